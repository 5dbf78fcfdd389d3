using Backstop.Infrastructure.Outbox.Sms;
using Backstop.Infrastructure.Providers.Twilio;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Infrastructure;

/// <summary>The send-rate bucket's shape, checked by counting permits rather than by timing.</summary>
public sealed class SmsRateLimiterTests
{
    private static SmsRateLimiter For(double perSecond) =>
        new(Options.Create(new TwilioOptions { SendRatePerSecond = perSecond }));

    [Fact]
    public void The_default_rate_lets_ten_messages_out_at_once_and_holds_the_eleventh()
    {
        new TwilioOptions().SendRatePerSecond.ShouldBe(10);
        using var limiter = For(10);
        for (var i = 0; i < 10; i++) limiter.Limiter.AttemptAcquire(1).IsAcquired.ShouldBeTrue();
        limiter.Limiter.AttemptAcquire(1).IsAcquired.ShouldBeFalse();
    }

    [Fact]
    public void A_rate_below_one_per_second_lets_one_message_out_per_period()
    {
        using var limiter = For(0.5);
        limiter.Limiter.AttemptAcquire(1).IsAcquired.ShouldBeTrue();
        limiter.Limiter.AttemptAcquire(1).IsAcquired.ShouldBeFalse();
    }
}
