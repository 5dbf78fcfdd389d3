namespace Backstop.Features.Quota;

/// <summary>
/// The billing period a counter belongs to, computed from an anchor (a period's start and end as the provider or
/// Billing last told it) and the clock. Nothing has to run at a renewal: once the clock passes the anchor's end the
/// next period is simply the one computed, so a missed webhook or a stopped job cannot leave anyone un-reset.
/// </summary>
internal static class BillingPeriods
{
    /// <summary>The period start every gauge row uses: gauges never reset.</summary>
    public static readonly DateTimeOffset GaugeStart = new(1970, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The period containing <paramref name="now"/>: the anchor's periods repeated forwards (or backwards) by its
    /// length, or the calendar month (UTC) without an anchor. Month-like anchors (28–31 days) repeat by calendar
    /// months from the anchor's start, clamped to the month's last day as Stripe does (31 Jan → 28 Feb → 31 Mar), the
    /// first period after the anchor starting at the anchor's end;
    /// year-like ones (365–366 days) by years; any other length (a weekly or daily plan) by that exact length.
    /// </summary>
    public static (DateTimeOffset Start, DateTimeOffset End) At(DateTimeOffset now, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd)
    {
        now = now.ToUniversalTime();
        if (anchorStart is not { } s || anchorEnd is not { } e || e <= s) return CalendarMonth(now);
        s = s.ToUniversalTime();
        e = e.ToUniversalTime();
        if (now >= s && now < e) return (s, e);

        var length = e - s;
        if (length.TotalDays is >= 28 and <= 31)
        {
            if (now < s) return Repeat(now, k => s.AddMonths(k), (now.Year - s.Year) * 12 + now.Month - s.Month);
            // After the anchor: its end starts the next period (never an overlap with the anchor's own period, which
            // repeating its start would give for an anchor shorter than its calendar month: 5 Jan + 30 days ends on
            // 4 Feb, but 5 Jan + 1 month is 5 Feb), then the anchor's day of month in each later month.
            static int MonthIndex(DateTimeOffset d) => d.Year * 12 + d.Month;
            var k = 1;
            while (MonthIndex(s.AddMonths(k)) <= MonthIndex(e)) k++;
            var (start, end) = (e, s.AddMonths(k));
            while (end <= now) (start, end) = (end, s.AddMonths(++k));
            return (start, end);
        }
        if (length.TotalDays is >= 365 and <= 366) return Repeat(now, k => s.AddYears(k), now.Year - s.Year);
        var n = (long)Math.Floor((now - s).Ticks / (double)length.Ticks);
        return (s + length * n, s + length * (n + 1));
    }

    /// <summary>
    /// The period of a metric's own <paramref name="window"/> containing <paramref name="now"/>: the one function both
    /// the usage counters and Billing's plan-violation checks use. <c>billing_period</c> is <see cref="At"/>;
    /// <c>month</c> is the billing period when the anchor is month-like, else months counted from the anchor's start
    /// (a yearly plan anchored on 31 January resets on 29 February in a leap year, 31 March, 30 April …: each period
    /// start is the anchor plus k months, clamped to the month's last day as Stripe clamps, never a clamped date
    /// carried forward), the calendar month without an anchor; <c>year</c> likewise by years (the calendar year
    /// without an anchor); <c>day</c> the UTC day; <c>none</c> the fixed gauge period.
    /// </summary>
    public static (DateTimeOffset Start, DateTimeOffset End) ForWindow(string window, DateTimeOffset now, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd)
    {
        now = now.ToUniversalTime();
        var anchored = anchorStart is { } s && anchorEnd is { } e && e > s;
        var days = anchored ? (anchorEnd!.Value - anchorStart!.Value).TotalDays : 0;
        switch (window)
        {
            case UsageWindows.None:
                return (GaugeStart, GaugeStart);
            case UsageWindows.Day:
                var day = new DateTimeOffset(now.Year, now.Month, now.Day, 0, 0, 0, TimeSpan.Zero);
                return (day, day.AddDays(1));
            case UsageWindows.BillingPeriod:
                return At(now, anchorStart, anchorEnd);
            case UsageWindows.Year:
                if (!anchored) return (new DateTimeOffset(now.Year, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(now.Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero));
                if (days is >= 365 and <= 366) return At(now, anchorStart, anchorEnd);
                var ys = anchorStart!.Value.ToUniversalTime();
                return Repeat(now, k => ys.AddYears(k), now.Year - ys.Year);
            default:
                if (!anchored) return CalendarMonth(now);
                if (days is >= 28 and <= 31) return At(now, anchorStart, anchorEnd);
                var ms = anchorStart!.Value.ToUniversalTime();
                return Repeat(now, k => ms.AddMonths(k), (now.Year - ms.Year) * 12 + now.Month - ms.Month);
        }
    }

    /// <summary>The longest a period of <paramref name="window"/> can last, for how long its idempotency keys are kept.</summary>
    public static TimeSpan LongestPeriod(string window) => window switch
    {
        UsageWindows.Day => TimeSpan.FromDays(1),
        UsageWindows.Month => TimeSpan.FromDays(31),
        // A billing period is at most a year (Stripe's and Paddle's longest interval).
        _ => TimeSpan.FromDays(366),
    };

    public static (DateTimeOffset Start, DateTimeOffset End) CalendarMonth(DateTimeOffset now)
    {
        var start = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (start, start.AddMonths(1));
    }

    /// <summary>Period k starts at <paramref name="startOf"/>(k); <paramref name="guess"/> is within one of the right k.</summary>
    private static (DateTimeOffset, DateTimeOffset) Repeat(DateTimeOffset now, Func<int, DateTimeOffset> startOf, int guess)
    {
        var k = guess;
        while (startOf(k) > now) k--;
        while (startOf(k + 1) <= now) k++;
        return (startOf(k), startOf(k + 1));
    }
}
