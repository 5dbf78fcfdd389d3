using Backstop.Features.Quota;

namespace Backstop.Tests.Features.Quota;

/// <summary>The period a counter belongs to, from a billing anchor and the clock (no database).</summary>
public sealed class BillingPeriodsTests
{
    private static DateTimeOffset At(int y, int m, int d, int h = 0) => new(y, m, d, h, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Inside_the_anchor_the_anchor_is_the_period_and_without_one_the_calendar_month()
    {
        BillingPeriods.At(At(2027, 1, 20), At(2027, 1, 5), At(2027, 2, 5)).ShouldBe((At(2027, 1, 5), At(2027, 2, 5)));
        BillingPeriods.At(At(2027, 1, 20), null, null).ShouldBe((At(2027, 1, 1), At(2027, 2, 1)));
    }

    [Fact]
    public void Monthly_anchors_repeat_on_their_day_clamped_to_short_months_as_Stripe_does()
    {
        var (s, e) = (At(2027, 1, 31), At(2027, 2, 28));
        BillingPeriods.At(At(2027, 3, 10), s, e).ShouldBe((At(2027, 2, 28), At(2027, 3, 31)));
        BillingPeriods.At(At(2027, 4, 5), s, e).ShouldBe((At(2027, 3, 31), At(2027, 4, 30)));
        BillingPeriods.At(At(2026, 12, 15), s, e).ShouldBe((At(2026, 11, 30), At(2026, 12, 31)));
    }

    [Fact]
    public void The_first_period_after_an_anchor_shorter_than_its_month_starts_at_the_anchors_end()
    {
        // 5 Jan + 30 days ends on 4 Feb; 5 Jan + 1 month would be 5 Feb, and a period starting on 5 Jan again would
        // be the anchor's own counter: a missed renewal would leave the customer at their old usage.
        var (s, e) = (At(2027, 1, 5), At(2027, 2, 4));
        BillingPeriods.At(At(2027, 2, 4, 2), s, e).ShouldBe((At(2027, 2, 4), At(2027, 3, 5)));
        BillingPeriods.At(At(2027, 3, 5), s, e).ShouldBe((At(2027, 3, 5), At(2027, 4, 5)));
    }

    [Fact]
    public void Periods_after_an_anchor_tile_the_time_line_without_gap_or_overlap()
    {
        foreach (var (s, e) in new[] { (At(2027, 1, 5), At(2027, 2, 4)), (At(2027, 1, 31), At(2027, 2, 28)), (At(2026, 11, 22, 12), At(2026, 12, 22, 12)) })
        {
            var period = BillingPeriods.At(e, s, e);
            period.Start.ShouldBe(e);
            for (var i = 0; i < 30; i++)
            {
                (period.End - period.Start).TotalDays.ShouldBeInRange(28, 31.5);
                var next = BillingPeriods.At(period.End, s, e);
                next.Start.ShouldBe(period.End);
                BillingPeriods.At(period.End.AddTicks(-1), s, e).ShouldBe(period);
                period = next;
            }
        }
    }

    [Fact]
    public void Other_lengths_repeat_by_that_exact_length()
    {
        var (s, e) = (At(2027, 1, 4), At(2027, 1, 11));
        BillingPeriods.At(At(2027, 1, 19), s, e).ShouldBe((At(2027, 1, 18), At(2027, 1, 25)));
        BillingPeriods.At(At(2027, 1, 1), s, e).ShouldBe((At(2026, 12, 28), At(2027, 1, 4)));
    }
}
