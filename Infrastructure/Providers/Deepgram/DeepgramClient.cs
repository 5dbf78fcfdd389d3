using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Backstop.Infrastructure.Providers.Deepgram;

internal sealed record DeepgramAccepted(string RequestId);

internal sealed record DeepgramFailure(bool Transient, string Message, TimeSpan? RetryAfter);

internal sealed record DeepgramResult(DeepgramAccepted? Accepted, DeepgramFailure? Failure);

/// <summary>
/// Deepgram's pre-recorded API in callback mode: <c>POST /v1/listen?callback=…</c> with the audio's URL; the
/// result is POSTed to the callback later. The query is built here (the .NET SDK types <c>callback_method</c> as a
/// bool), with our id in <c>extra</c>, which Deepgram echoes back in <c>metadata.extra</c>.
/// </summary>
internal sealed class DeepgramClient(HttpClient http, IOptions<DeepgramOptions> options, ILogger<DeepgramClient> log)
{
    public const string ExtraKey = "backstop_transcription";

    public bool IsEnabled => options.Value.ApiEnabled;

    public async Task<DeepgramResult> TranscribeAsync(string audioUrl, string callbackUrl, string transcriptionId, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.ApiEnabled) return new DeepgramResult(null, new DeepgramFailure(false, "Deepgram:ApiKey is not configured.", null));
        var query = new List<string>
        {
            "callback=" + Uri.EscapeDataString(callbackUrl),
            "model=" + Uri.EscapeDataString(o.Model),
            "smart_format=true",
            "punctuate=true",
            "diarize=true",
            "extra=" + Uri.EscapeDataString(ExtraKey + ":" + transcriptionId),
        };
        if (!string.IsNullOrWhiteSpace(o.Language)) query.Add("language=" + Uri.EscapeDataString(o.Language));
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/listen?" + string.Join('&', query))
        {
            Content = JsonContent.Create(new { url = audioUrl }),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Token", o.ApiKey!.Trim());
        try
        {
            using var response = await http.SendAsync(message, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                using var document = JsonDocument.Parse(text);
                if (document.RootElement.ValueKind == JsonValueKind.Object &&
                    document.RootElement.TryGetProperty("request_id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: > 0 } requestId)
                    return new DeepgramResult(new DeepgramAccepted(requestId), null);
                return new DeepgramResult(null, new DeepgramFailure(true, "Deepgram's answer has no request_id.", null));
            }
            log.LogWarning("Deepgram answered {Status} to a transcription request", status);
            var transient = status is 408 or 429 or >= 500;
            return new DeepgramResult(null, new DeepgramFailure(transient, $"Deepgram answered {status}: {(text.Length > 500 ? text[..500] : text)}",
                response.Headers.RetryAfter?.Delta));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new DeepgramResult(null, new DeepgramFailure(true, $"Deepgram did not answer within {o.TimeoutSeconds} s.", null));
        }
        catch (HttpRequestException e)
        {
            return new DeepgramResult(null, new DeepgramFailure(true, "Deepgram could not be reached: " + e.Message, null));
        }
        catch (JsonException e)
        {
            return new DeepgramResult(null, new DeepgramFailure(true, "Deepgram's answer could not be read: " + e.Message, null));
        }
    }
}
