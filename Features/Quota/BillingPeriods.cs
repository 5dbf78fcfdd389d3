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
