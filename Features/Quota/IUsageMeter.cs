namespace Backstop.Features.Quota;

/// <summary>
/// The Quota slice's public face to the slices that meter what they create (Bots' meetings and stored audio,
/// ApiKeys' members): every method runs in the caller's transaction, so the usage commits or rolls back together
/// with the caller's own rows. Limits come from the organization's plan (Billing), the operator's per-organization
/// override winning, or the metric's declared default; <c>-1</c> is unlimited. Callers gate themselves with
/// Billing's <c>IAccessGate</c> (the meter only counts).
/// <para>Two steps: <see cref="PrepareAsync"/> reads the limit and the period before the caller's transaction (on
/// connections of its own, so a request never holds two pooled connections at once), the other methods decide inside it.</para>
/// </summary>
public interface IUsageMeter
{
    /// <summary>
    /// The limit and current period of <paramref name="metric"/> for the organization. An undeclared metric, or one the
    /// organization has no limit for, throws 404 <c>unknown_metric</c> unless <paramref name="requireLimit"/> is false
    /// (the scope is then unlimited: for usage that is only recorded).
    /// </summary>
    Task<UsageScope> PrepareAsync(string organizationId, string metric, bool requireLimit, CancellationToken ct);

    /// <summary>
    /// Adds <paramref name="amount"/> if it fits the limit, decided by one statement (the check and the increment);
    /// otherwise throws the 403 <c>quota_exceeded</c> problem (with <c>used</c>, <c>limit</c>, <c>resetsAt</c>),
    /// which must roll the caller's transaction back. The same <paramref name="idempotencyKey"/> again answers the
    /// first result and counts nothing.
    /// </summary>
    Task<UsageReading> ConsumeAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long amount, string? idempotencyKey, CancellationToken ct);

    /// <summary>
    /// Counts <paramref name="amount"/> without checking the limit: for usage that already happened and must not be
    /// refused (a recording Recall already made). Idempotent by <paramref name="idempotencyKey"/> like a consume.
    /// </summary>
    Task<UsageReading> RecordAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long amount, string idempotencyKey, CancellationToken ct);

    /// <summary>Undoes the consumption made under <paramref name="idempotencyKey"/> (in the period it was counted in, never below 0); false when there was none.</summary>
    Task<bool> UndoAsync(DbConnection connection, DbTransaction transaction, string organizationId, string metric, string idempotencyKey, CancellationToken ct);

    /// <summary>
    /// Sets a gauge to <paramref name="value"/> counted from the caller's source rows (in this transaction). With
    /// <paramref name="enforceLimit"/>, a value over the limit throws 403 <c>quota_exceeded</c> (the caller rolls back
    /// what it added); otherwise the value is stored whatever the limit.
    /// </summary>
    Task<UsageReading> SetGaugeAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long value, bool enforceLimit, CancellationToken ct);

    /// <summary>The organization's usage of <paramref name="metric"/> now (404 <c>unknown_metric</c> as for a consume).</summary>
    Task<UsageReading> CurrentAsync(string organizationId, string metric, CancellationToken ct);
}

/// <summary>What a metering operation works against: the metric, the organization's limit of it and the period now.</summary>
/// <param name="Limit">The limit in force; <c>-1</c> is unlimited.</param>
/// <param name="PeriodStart">The counter's period (for a gauge the fixed 1970-01-01 start every gauge row uses).</param>
public sealed record UsageScope(string OrganizationId, MetricDeclaration Metric, long Limit, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd)
{
    public bool IsGauge => Metric.Kind == "gauge";

    /// <summary>A soft limit admits past it and counts the overage; a hard one refuses.</summary>
    public bool IsSoft => Metric.LimitMode == "soft";

    public UsageReading Reading(long used) => new(Metric.Name, Metric.Kind, used, Limit,
        Limit < 0 ? null : Math.Max(Limit - used, 0), IsGauge ? null : PeriodStart, IsGauge ? null : PeriodEnd)
    {
        Overage = Limit < 0 ? 0 : Math.Max(used - Limit, 0),
    };
}

/// <summary>A metric's usage in the current period (a gauge has no period).</summary>
/// <param name="Kind"><c>counter</c> or <c>gauge</c>.</param>
/// <param name="Limit">The limit in force; <c>-1</c> is unlimited.</param>
/// <param name="Remaining">What is left before the limit; null when unlimited.</param>
/// <param name="PeriodStart">The billing period the counter belongs to; null for a gauge.</param>
/// <param name="PeriodEnd">When the counter starts again (the exclusive end of the period); null for a gauge.</param>
public sealed record UsageReading(string Metric, string Kind, long Used, long Limit, long? Remaining, DateTimeOffset? PeriodStart, DateTimeOffset? PeriodEnd)
{
    /// <summary>What is used past a soft limit (0 under it, and always 0 for a hard limit, which refuses instead).</summary>
    public long Overage { get; init; }
}
