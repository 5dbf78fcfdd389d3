using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Outbox.Sms;

/// <summary>What the <c>sms</c> channel stores.</summary>
internal sealed record SmsPayload(string To, string Body);

/// <summary>
/// Sends SMS through Twilio at no more than <c>Twilio:SendRatePerSecond</c> per instance (a token bucket on the
/// real clock: it paces requests, it is not business time). The provider id recorded is Twilio's message SID.
/// </summary>
internal sealed class SmsChannel(TwilioClient twilio, SmsRateLimiter limiter, IEnumerable<ISmsSendGuard> guards) : IOutboxChannel
{
    public string Name => OutboxSms.Channel;

    /// <summary>The send-rate permit; a token bucket's permits are spent when taken, so nothing is held afterwards.</summary>
    public async Task PrepareAsync(OutboxMessage message, CancellationToken ct)
    {
        using var permit = await limiter.Limiter.AcquireAsync(1, ct);
    }

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.PayloadAs<SmsPayload>();
        foreach (var guard in guards)
            if (await guard.RefusalAsync(message, payload, ct) is { } refusal)
                return DeliveryResult.Permanent(refusal);
        var result = await twilio.SendAsync(payload.To, payload.Body, ct);
        if (result.Accepted) return DeliveryResult.Sent(result.Sid);
        var failure = result.Transient ? DeliveryResult.Transient(result.Error!, result.RetryAfter) : DeliveryResult.Permanent(result.Error!);
        return failure with { ErrorCode = result.ErrorCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) };
    }
}
