namespace Backstop.Features.Billing;

/// <summary>
/// The Billing slice's public face for limits and periods: which plan is in force for an organization, its limits and
/// its billing period. Read by Quota (limits, the period a counter belongs to) and by plan changes.
/// </summary>
public interface IOrganizationPlans
{
    Task<OrganizationPlan> GetAsync(string organizationId, CancellationToken ct);

    /// <summary>As <see cref="GetAsync(string, CancellationToken)"/>, read on the caller's connection and transaction (Quota's group commit reads it once per organization of a batch).</summary>
    Task<OrganizationPlan> GetAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, string organizationId, CancellationToken ct);

    /// <summary>
    /// As <see cref="GetAsync(System.Data.Common.DbConnection, System.Data.Common.DbTransaction?, string, CancellationToken)"/> for many
    /// organizations at once, on the caller's connection and transaction: one read of their subscriptions and one of
    /// the plans those name, whatever the count (Quota's group commit resolves a whole batch with it). Keyed by
    /// organization id; every id asked for has an entry (the default plan without a subscription).
    /// </summary>
    Task<IReadOnlyDictionary<string, OrganizationPlan>> GetManyAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction,
        IReadOnlyCollection<string> organizationIds, CancellationToken ct);

    /// <summary>Whether any plan's limits name this metric (Quota refuses to change the kind of a metric in use).</summary>
    Task<bool> AnyPlanLimitsAsync(string metric, CancellationToken ct);
}

/// <param name="PlanCode">The subscription's plan while it is live (trialing, active, past due, suspended, paused), else the default plan.</param>
/// <param name="Limits">Metric → limit; <c>-1</c> is unlimited; a metric not named has no plan limit.</param>
/// <param name="SubscriptionStatus">Null without a subscription.</param>
/// <param name="PeriodStart">The subscription's current period (its billing anchor); null without a live subscription.</param>
public sealed record OrganizationPlan(
    string OrganizationId,
    string PlanCode,
    IReadOnlyDictionary<string, long> Limits,
    string? SubscriptionStatus,
    DateTimeOffset? PeriodStart,
    DateTimeOffset? PeriodEnd);
