using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Outbox.Sms;

/// <summary>What the <c>sms</c> channel stores.</summary>
internal sealed record SmsPayload(string To, string Body);

internal static class OutboxSms
{
    public const string Channel = "sms";

    public static OutboxEnvelope Create(string idempotencyKey, string to, string body, string? reference = null, bool sensitive = false) =>
        OutboxEnvelope.Create(Channel, idempotencyKey, new SmsPayload(to, body), reference, sensitive);
}

/// <summary>
/// Asked right before an SMS leaves, so that what changed after it was queued (the recipient replied STOP, the
/// organization disabled SMS) still stops it. A reason refuses the message permanently; null lets it go.
/// </summary>
internal interface ISmsSendGuard
{
    Task<string?> RefusalAsync(OutboxMessage message, SmsPayload payload, CancellationToken ct);
}

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

internal sealed class SmsRateLimiter(IOptions<TwilioOptions> options) : IDisposable
{
    public RateLimiter Limiter { get; } = Create(options.Value.SendRatePerSecond);

    private static TokenBucketRateLimiter Create(double perSecond)
    {
        // Whole tokens per period: 10/s → 10 per second; 0.5/s → 1 per 2 s.
        var period = perSecond >= 1 ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(1 / perSecond);
        var tokens = Math.Max(1, (int)Math.Floor(perSecond >= 1 ? perSecond : 1));
        return new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = tokens,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = period,
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
    }

    public void Dispose() => Limiter.Dispose();
}

internal static class SmsChannelRegistration
{
    public static IServiceCollection AddSmsChannel(this IServiceCollection services)
    {
        services.AddSingleton<SmsRateLimiter>();
        services.AddSingleton<IOutboxChannel, SmsChannel>();
        return services;
    }
}
