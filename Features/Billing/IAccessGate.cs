namespace Backstop.Features.Billing;

/// <summary>
/// The Billing slice's public face to every slice that creates or uses something an organization pays for (Bots,
/// Quota, ApiKeys' member add): the one place that decides, from the organization's subscription (and plan
/// violations), whether the action may go ahead. Reads are never gated.
/// <list type="bullet">
/// <item><c>active</c>, <c>trialing</c>, no subscription or <c>canceled</c> (the default plan): everything.</item>
/// <item><c>past_due</c>: <see cref="GatedAction.Create"/> refused with 402 <c>payment_past_due</c> (the problem carries
/// <c>graceEndsAt</c> and <c>updatePaymentUrl</c>); <see cref="GatedAction.Use"/> allowed.</item>
/// <item><c>suspended</c> / <c>paused</c>: every gated action refused, 402 <c>subscription_suspended</c> / <c>subscription_paused</c>.</item>
/// <item>A stored plan violation of the metric the action creates: 403 <c>plan_violation</c> with its sentence.</item>
/// </list>
/// </summary>
public interface IAccessGate
{
    /// <summary>The organization's access as <c>GET /v1/billing/access</c> shows it.</summary>
    Task<AccessStatus> GetAsync(string organizationId, CancellationToken ct);

    /// <summary>
    /// Returns when the action is allowed; otherwise throws the problem (402/403) the caller's request must answer.
    /// <paramref name="metric"/> names what the action creates or consumes (<c>meetings_per_month</c>,
    /// <c>team_members</c>, <c>storage_bytes</c>, or an application metric), so that a violation of that metric refuses it.
    /// </summary>
    Task EnsureAllowedAsync(string organizationId, GatedAction action, string? metric, CancellationToken ct);

    /// <summary>As <see cref="GetAsync(string, CancellationToken)"/>, read on the caller's connection and transaction.</summary>
    Task<AccessStatus> GetAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, string organizationId, CancellationToken ct);

    /// <summary>
    /// As <see cref="GetAsync(System.Data.Common.DbConnection, System.Data.Common.DbTransaction?, string, CancellationToken)"/> for many
    /// organizations at once, on the caller's connection and transaction: one read of their subscriptions, one of
    /// their open violations and, only when one of them is refused for payment, one of the operators' lifts, whatever
    /// the count (Quota's group commit gates a whole batch with it). Keyed by organization id; every id asked for has an entry.
    /// </summary>
    Task<IReadOnlyDictionary<string, AccessStatus>> GetManyAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction,
        IReadOnlyCollection<string> organizationIds, CancellationToken ct);

    /// <summary>The problem (402/403, a ProblemException) that refuses <paramref name="action"/> under <paramref name="access"/>, or null when it is allowed: what <see cref="EnsureAllowedAsync"/> throws.</summary>
    Exception? Refusal(AccessStatus access, GatedAction action, string? metric);
}

public enum GatedAction
{
    /// <summary>Creating something (a meeting, a bot, a member, a recording): refused while past due.</summary>
    Create,

    /// <summary>Any other gated use: allowed while past due, refused when suspended or paused.</summary>
    Use,
}

/// <param name="State">The subscription's status (<c>active</c>, <c>trialing</c>, <c>past_due</c>, <c>suspended</c>, <c>paused</c>, …) or <c>none</c> without one.</param>
/// <param name="PlanCode">The plan in force: the subscription's, or the default plan.</param>
public sealed record AccessStatus(
    string OrganizationId,
    string State,
    string PlanCode,
    bool CanCreate,
    bool CanUse,
    string? RefusalCode,
    string? RefusalDetail,
    DateTimeOffset? GraceEndsAt,
    string? UpdatePaymentUrl,
    IReadOnlyList<ViolationSummary> Violations)
{
    /// <summary>An operator lifted the suspension (<c>POST /v1/admin/organizations/{id}/suspension-lift</c>): admitted until then whatever the payment state.</summary>
    public DateTimeOffset? SuspensionLiftedUntil { get; init; }
}

/// <param name="Metric">The metric over its new limit (<c>meetings_per_month</c>, <c>team_members</c>, <c>storage_bytes</c>).</param>
/// <param name="Action"><c>read_only</c>, <c>notify_admin</c> or <c>grace_period</c>.</param>
/// <param name="Sentence">For people: "Your team has 12 members but the plan allows 5".</param>
/// <param name="Blocking">Creation of this metric is refused now (a storage grace that has not ended is not blocking).</param>
public sealed record ViolationSummary(string Metric, long Current, long Limit, string Action, string Sentence, DateTimeOffset? GraceEndsAt, bool Blocking);
