using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Backstop.Infrastructure.Providers.Paddle;

/// <summary>
/// Why a Paddle call did not go through. <see cref="Transient"/>: 429, 5xx, a timeout, no connection, or no API key
/// configured yet — the same call may work later. Otherwise Paddle refused it (a 4xx): the same call never will.
/// </summary>
/// <param name="Code">Paddle's <c>error.code</c> (<c>not_found</c>, <c>forbidden</c>, …), or ours: <c>not_configured</c>, <c>timeout</c>, <c>unreachable</c>, <c>bad_response</c>.</param>
internal sealed record PaddleFailure(int? Status, string? Code, string Message, bool Transient, TimeSpan? RetryAfter = null);

/// <param name="AlreadyCanceled">Paddle had canceled the subscription before this call (its 400 <c>subscription_is_canceled_action_invalid</c>).</param>
internal sealed record PaddleCancelResult(bool AlreadyCanceled, string? Status, PaddleFailure? Failure)
{
    public bool Ok => Failure is null;
}

/// <summary>
/// Paddle Billing's API over a typed <see cref="HttpClient"/> (base address <c>Paddle:BaseUrl</c>, <c>Authorization:
/// Bearer Paddle:ApiKey</c>; the key is never logged nor put in an error). Errors are Paddle's envelope
/// <c>{"error":{"type","code","detail"}}</c>. Never throws for what Paddle answers or for the network.
/// </summary>
internal sealed class PaddleClient(HttpClient http, IOptions<PaddleOptions> options, ILogger<PaddleClient> log)
{
    /// <summary>Paddle's answer to an action on a subscription that is already canceled (400).</summary>
    public const string SubscriptionIsCanceled = "subscription_is_canceled_action_invalid";

    /// <summary>Paddle's answer to an update of a canceled subscription (400): the same fact, said by another route.</summary>
    public const string SubscriptionUpdateWhenCanceled = "subscription_update_when_canceled";

    public bool Configured => options.Value.ApiEnabled;

    /// <summary>
    /// <c>POST /subscriptions/{id}/cancel</c> with <c>{"effective_from":"immediately"}</c>: the subscription ends now.
    /// Cancelling is idempotent by nature: a subscription Paddle already canceled answers 400
    /// <see cref="SubscriptionIsCanceled"/>, returned here as success (<see cref="PaddleCancelResult.AlreadyCanceled"/>).
    /// </summary>
    public async Task<PaddleCancelResult> CancelSubscriptionNowAsync(string subscriptionId, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.ApiEnabled)
            return new PaddleCancelResult(false, null, new PaddleFailure(null, "not_configured", "Paddle:ApiKey is not set; retried once it is.", Transient: true));
        using var message = new HttpRequestMessage(HttpMethod.Post, $"subscriptions/{Uri.EscapeDataString(subscriptionId)}/cancel")
        {
            Content = JsonContent.Create(new Dictionary<string, string> { ["effective_from"] = "immediately" }),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.ApiKey!.Trim());
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, ct);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Failed(new PaddleFailure(null, "timeout", $"Paddle did not answer within {PaddleOptions.Timeout.TotalSeconds:0} s.", Transient: true));
        }
        catch (HttpRequestException e)
        {
            return Failed(new PaddleFailure(null, "unreachable", "Paddle could not be reached: " + e.Message, Transient: true));
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var body = await ReadAsync(response, ct);
            if (response.IsSuccessStatusCode)
            {
                var subscriptionStatus = DataStatus(body);
                return subscriptionStatus is null
                    ? Failed(new PaddleFailure(status, "bad_response", "Paddle's answer could not be read.", Transient: true))
                    : new PaddleCancelResult(false, subscriptionStatus, null);
            }

            var (code, detail) = Error(body);
            if (status == 400 && code is SubscriptionIsCanceled or SubscriptionUpdateWhenCanceled)
                return new PaddleCancelResult(true, "canceled", null);
            var transient = status is 429 or >= 500;
            log.LogWarning("Paddle answered {Status} ({Code}) to cancel subscription {SubscriptionId}", status, code, subscriptionId);
            return Failed(new PaddleFailure(status, code, $"Paddle answered {status} {code}: {detail}", transient, transient ? RetryAfter(response) : null));
        }
    }

    private static PaddleCancelResult Failed(PaddleFailure failure) => new(false, null, failure);

    private static async Task<string> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException)
        {
            return "";
        }
    }

    /// <summary><c>data.status</c> of a success answer.</summary>
    private static string? DataStatus(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
                   && data.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String
                ? s.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Paddle's error envelope: <c>{"error":{"type","code","detail"}}</c>.</summary>
    private static (string? Code, string Detail) Error(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                string? Text(string name) => error.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                return (Text("code"), Text("detail") ?? "");
            }
        }
        catch (JsonException)
        {
        }
        return (null, body.Length > 300 ? body[..300] : body);
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta;
        return response.StatusCode == HttpStatusCode.TooManyRequests ? TimeSpan.FromSeconds(60) : null;
    }
}
