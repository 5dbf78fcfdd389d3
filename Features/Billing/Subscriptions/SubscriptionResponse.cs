namespace Backstop.Features.Billing.Subscriptions;

/// <param name="Plan">The plan the change moves to.</param>
/// <param name="EffectiveAt">When it takes effect (a downgrade: the end of the paid period).</param>
internal sealed record PendingChangeView(string Plan, DateTimeOffset? EffectiveAt);

/// <param name="Status">Stripe's status (<c>trialing</c>, <c>active</c>, <c>past_due</c>, <c>canceled</c>, …) or Backstop's <c>suspended</c>.</param>
/// <param name="Provider"><c>stripe</c> or <c>paddle</c>.</param>
internal sealed record SubscriptionResponse(
    string Status,
    string Plan,
    string Provider,
    DateTimeOffset? CurrentPeriodStart,
    DateTimeOffset? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTimeOffset? CanceledAt,
    DateTimeOffset? TrialEnd,
    DateTimeOffset? GraceEndsAt,
    DateTimeOffset? PaymentFailedAt,
    int PaymentRetryCount,
    PendingChangeView? PendingChange)
{
    public static SubscriptionResponse From(SubscriptionRow row) => new(
        row.Status, row.PlanCode, row.Provider, row.CurrentPeriodStart, row.CurrentPeriodEnd, row.CancelAtPeriodEnd, row.CanceledAt,
        row.TrialEnd, row.GraceEndsAt, row.PaymentFailedAt, row.PaymentRetryCount,
        row.PendingPlanCode is null ? null : new PendingChangeView(row.PendingPlanCode, row.PendingChangeAt));
}
