using ApiException = Twilio.Exceptions.ApiException;
using TwilioException = Twilio.Exceptions.TwilioException;
using CreateMessageOptions = Twilio.Rest.Api.V2010.Account.CreateMessageOptions;
using MessageResource = Twilio.Rest.Api.V2010.Account.MessageResource;
using PhoneNumber = Twilio.Types.PhoneNumber;
using SystemNetHttpClient = Twilio.Http.SystemNetHttpClient;
using TwilioRestClient = Twilio.Clients.TwilioRestClient;

namespace Backstop.Infrastructure.Providers.Twilio;

/// <summary>The answer to a send: Twilio's message SID, or a classified failure.</summary>
internal sealed record TwilioSendResult(string? Sid, int HttpStatus, int? ErrorCode, string? Error, bool Transient, TimeSpan? RetryAfter)
{
    public bool Accepted => HttpStatus is >= 200 and < 300;
}

/// <summary>
/// Sends through the official SDK (<c>MessageResource.CreateAsync</c> on a <see cref="TwilioRestClient"/> over our
/// <see cref="HttpClient"/>, whose <see cref="TwilioBaseUrlHandler"/> honours <c>Twilio:BaseUrl</c> and reads
/// <c>Retry-After</c>). Twilio takes no idempotency key, so the outbox's claim is what keeps a message from being
/// sent twice.
/// </summary>
internal sealed class TwilioClient(HttpClient http, IOptions<TwilioOptions> options, ILogger<TwilioClient> log)
{
    public bool CanSend => options.Value.CanSend;

    public async Task<TwilioSendResult> SendAsync(string to, string body, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.CanSend) return new TwilioSendResult(null, 0, null, "Twilio is not configured (Twilio:AccountSid, Twilio:AuthToken, Twilio:From).", false, null);

        var client = new TwilioRestClient(o.AccountSid, o.AuthToken, accountSid: o.AccountSid, httpClient: new SystemNetHttpClient(http));
        var message = new CreateMessageOptions(new PhoneNumber(to)) { Body = body };
        if (!string.IsNullOrWhiteSpace(o.MessagingServiceSid)) message.MessagingServiceSid = o.MessagingServiceSid;
        else message.From = new PhoneNumber(o.From);
        if (o.StatusCallbackUrl is { } callback) message.StatusCallback = new Uri(callback);

        var exchange = TwilioBaseUrlHandler.Observe();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(o.TimeoutSeconds));
        try
        {
            // The SDK's async calls take no token: the timeout cancels the HTTP exchange through the handler.
            exchange.Cancellation = timeout.Token;
            var sent = await MessageResource.CreateAsync(message, client);
            // A 2xx means Twilio accepted the message: retrying an unreadable answer would send it twice.
            if (string.IsNullOrEmpty(sent?.Sid)) log.LogWarning("Twilio accepted a message with HTTP {Status} but its answer carries no sid", exchange.Status);
            return new TwilioSendResult(sent?.Sid, exchange.Status ?? 201, null, null, false, null);
        }
        catch (Exception e) when (e is TwilioException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            // The handler saw the HTTP status; the SDK's exception may not carry it (Status 0 when the error body is
            // not Twilio's JSON), and transport failures (refused connection, our timeout) come as ApiConnectionException.
            var status = exchange.Status ?? (e as ApiException)?.Status ?? 0;
            if (status is >= 200 and < 300)
            {
                // Twilio accepted the message but the SDK could not read the answer: retrying would send it twice.
                log.LogWarning("Twilio accepted a message with HTTP {Status} but its answer could not be read", status);
                return new TwilioSendResult(null, status, null, null, false, null);
            }
            if (status == 0)
            {
                var timedOut = timeout.IsCancellationRequested;
                return new TwilioSendResult(null, 0, null, timedOut ? $"Twilio did not answer within {o.TimeoutSeconds} s." : $"Twilio unreachable: {e.Message}", true, null);
            }
            int? code = e is ApiException { Code: not 0 } api ? api.Code : null;
            // 429 / 20429: concurrency limit, request not processed; 5xx: Twilio's side. Other 4xx (21610 unsubscribed
            // recipient, 21211 invalid number, auth) will fail the same way again.
            var transient = status is 429 or 408 || code == 20429 || status >= 500;
            return new TwilioSendResult(null, status, code, $"Twilio {status}{(code is null ? "" : $" error {code}")}: {e.Message}", transient, exchange.RetryAfter);
        }
    }
}
