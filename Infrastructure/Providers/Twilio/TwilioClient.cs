using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Outbox.Sms;

/// <summary>The answer to a send: Twilio's message SID, or a classified failure.</summary>
public sealed record TwilioSendResult(string? Sid, int HttpStatus, int? ErrorCode, string? Error, bool Transient, TimeSpan? RetryAfter)
{
    public bool Accepted => HttpStatus is >= 200 and < 300;
}

/// <summary>
/// A small typed client for Twilio's Messages API (the Twilio package is not available here):
/// <c>POST {BaseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json</c>, form-encoded, HTTP Basic
/// <c>AccountSid:AuthToken</c>. Twilio takes no idempotency key, so the outbox's claim is what keeps a message from
/// being sent twice.
/// </summary>
public sealed class TwilioClient(HttpClient http, IOptions<TwilioOptions> options, TimeProvider time, ILogger<TwilioClient> log)
{
    public bool CanSend => options.Value.CanSend;

    public async Task<TwilioSendResult> SendAsync(string to, string body, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.CanSend) return new TwilioSendResult(null, 0, null, "Twilio is not configured (Twilio:AccountSid, Twilio:AuthToken, Twilio:From).", false, null);

        var form = new List<KeyValuePair<string, string>> { new("To", to), new("Body", body) };
        form.Add(!string.IsNullOrWhiteSpace(o.MessagingServiceSid) ? new("MessagingServiceSid", o.MessagingServiceSid) : new("From", o.From!));
        if (o.StatusCallbackUrl is { } callback) form.Add(new("StatusCallback", callback));

        using var request = new HttpRequestMessage(HttpMethod.Post,
            new Uri(new Uri(o.BaseUrl.TrimEnd('/') + "/"), $"2010-04-01/Accounts/{Uri.EscapeDataString(o.AccountSid!)}/Messages.json"))
        {
            Content = new FormUrlEncodedContent(form),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{o.AccountSid}:{o.AuthToken}")));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(o.TimeoutSeconds));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new TwilioSendResult(null, 0, null, $"Twilio did not answer within {o.TimeoutSeconds} s.", true, null);
        }
        catch (HttpRequestException e)
        {
            return new TwilioSendResult(null, 0, null, $"Twilio unreachable: {e.Message}", true, null);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                // A 2xx means Twilio accepted the message: retrying an unreadable answer would send it twice.
                var sid = TryRead(text, "sid");
                if (sid is null) log.LogWarning("Twilio accepted a message with HTTP {Status} but its answer carries no sid", status);
                return new TwilioSendResult(sid, status, null, null, false, null);
            }

            int? code = null;
            if (TryRead(text, "code") is { } c && int.TryParse(c, CultureInfo.InvariantCulture, out var parsed)) code = parsed;
            var message = TryRead(text, "message") ?? response.ReasonPhrase ?? "error";
            // 429 / 20429: concurrency limit, request not processed; 5xx: Twilio's side. Other 4xx (21610 unsubscribed
            // recipient, 21211 invalid number, auth) will fail the same way again.
            var transient = status == 429 || code == 20429 || status >= 500 || status == (int)HttpStatusCode.RequestTimeout;
            return new TwilioSendResult(null, status, code, $"Twilio {status}{(code is null ? "" : $" error {code}")}: {message}", transient,
                RetryAfter(response, time.GetUtcNow()));
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        if (header?.Date is { } date) return date > now ? date - now : TimeSpan.Zero;
        return null;
    }

    private static string? TryRead(string json, string property)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(property, out var value)) return null;
            return value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                _ => null,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
