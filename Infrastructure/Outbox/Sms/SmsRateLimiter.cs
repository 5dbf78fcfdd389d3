using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Outbox.Sms;

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
