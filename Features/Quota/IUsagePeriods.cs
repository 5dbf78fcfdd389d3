namespace Backstop.Features.Quota;

/// <summary>
/// The one period function: which period of a metric's window an instant falls in, from the organization's billing
/// anchor. The usage counters and Billing's plan-violation checks both use it, so "this month's meetings" means the
/// same days to both (a monthly allowance on an annual plan resets on the anchor's day each month).
/// </summary>
public interface IUsagePeriods
{
    /// <summary>
    /// The period of <paramref name="window"/> (<c>month</c>, <c>billing_period</c>, <c>day</c>, <c>year</c>,
    /// <c>none</c>) containing <paramref name="now"/>, from the anchor (a billing period's start and end; none: calendar).
    /// </summary>
    UsagePeriod PeriodOf(string window, DateTimeOffset now, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd);

    /// <summary>
    /// Every declared metric with the organization's stored usage in its current period (from the newer of
    /// <paramref name="anchorStart"/>/<paramref name="anchorEnd"/> and the renewals Quota saw), read in the caller's transaction.
    /// </summary>
    Task<IReadOnlyList<MetricUsage>> UsageAsync(DbConnection connection, DbTransaction? transaction, string organizationId,
        DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd, CancellationToken ct);
}

/// <param name="Start">Inclusive; for <c>none</c> (gauges) the fixed 1970-01-01 every gauge row uses.</param>
/// <param name="End">Exclusive: when the counter starts again.</param>
public readonly record struct UsagePeriod(DateTimeOffset Start, DateTimeOffset End);

/// <param name="Used">Stored usage in <paramref name="Period"/>.</param>
public sealed record MetricUsage(MetricDeclaration Metric, long Used, UsagePeriod Period);
