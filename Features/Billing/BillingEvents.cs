using Backstop.Features.Billing.Dunning;
using Backstop.Features.Billing.PlanChanges;
using Backstop.Features.Billing.Subscriptions;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Billing;

/// <summary>
/// The slice's outbound events (docs/events-catalogue.md), written in the transaction of their change. A subscription's
/// events follow from the difference between its row before and after the change (<see cref="Transitions"/>), so every
/// path that moves it — a provider event, dunning, the grace expiry, a plan change, a cancel — names the same events
/// for the same move; <c>data</c> is <see cref="SubscriptionResponse"/> after the change, as <c>GET /v1/billing/subscription</c> shows it.
/// </summary>
internal sealed class BillingEvents(IEventPublisher events, TimeProvider time)
{
    /// <summary>The organization's subscription row before a change, to pass to <see cref="AfterAsync"/> once it is written.</summary>
    public Task<SubscriptionRow?> BeforeAsync(DbConnection connection, DbTransaction tx, string organizationId, CancellationToken ct) =>
        BillingSql.FindSubscriptionAsync(connection, tx, organizationId, ct);

    /// <summary>Publishes the events of the move from <paramref name="before"/> to the row as it is now (none when nothing an app cares about moved).</summary>
    public async Task AfterAsync(DbConnection connection, DbTransaction tx, string organizationId, SubscriptionRow? before, CancellationToken ct)
    {
        var after = await BillingSql.FindSubscriptionAsync(connection, tx, organizationId, ct);
        if (after is null) return;
        foreach (var type in Transitions(before, after))
            await events.PublishAsync(connection, tx, type, organizationId, SubscriptionResponse.From(after), ct);
    }

    /// <inheritdoc cref="AfterAsync(DbConnection, DbTransaction, string, SubscriptionRow?, CancellationToken)"/>
    public Task AfterAsync(DbConnection connection, DbTransaction tx, SubscriptionRow before, CancellationToken ct) =>
        AfterAsync(connection, tx, before.OrganizationId, before, ct);

    /// <summary>Publishes <paramref name="type"/> for the organization's subscription as it is now in <paramref name="tx"/>.</summary>
    public async Task SubscriptionAsync(DbConnection connection, DbTransaction tx, string type, string organizationId, CancellationToken ct)
    {
        var row = await BillingSql.FindSubscriptionAsync(connection, tx, organizationId, ct);
        if (row is not null) await events.PublishAsync(connection, tx, type, organizationId, SubscriptionResponse.From(row), ct);
    }

    /// <summary>
    /// The events of a subscription's move. <c>activated</c>: it became trialing or active from nothing, from a status
    /// whose plan was not in force (incomplete, canceled, expired), or as a new provider subscription. <c>plan_changed</c>:
    /// its plan changed while in force. <c>past_due</c>, <c>suspended</c> (Backstop's own, or Stripe's <c>unpaid</c>):
    /// it entered that status. <c>canceled</c>: a cancellation at period end was set, or it ended. <c>resumed</c>: a
    /// cancellation at period end was undone while it lives, or it left past_due/suspended/unpaid for active or trialing.
    /// A scheduled downgrade is published where it is confirmed (<see cref="EventTypes.SubscriptionDowngradeScheduled"/>).
    /// </summary>
    public static IReadOnlyList<string> Transitions(SubscriptionRow? before, SubscriptionRow after)
    {
        var list = new List<string>();
        var newSubscription = before is null || before.ProviderSubscriptionId != after.ProviderSubscriptionId;
        var wasLive = before is not null && before.Live;
        var running = after.Status is SubscriptionStatus.Active or SubscriptionStatus.Trialing;
        var ended = after.Status is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired;
        if (running && (newSubscription || !wasLive))
        {
            list.Add(EventTypes.SubscriptionActivated);
            return list;
        }
        if (before is null) return list;
        if (wasLive && after.Live && before.PlanCode != after.PlanCode) list.Add(EventTypes.SubscriptionPlanChanged);
        if (after.Status == SubscriptionStatus.PastDue && before.Status is not (SubscriptionStatus.PastDue or SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid))
            list.Add(EventTypes.SubscriptionPastDue);
        if (after.Status is SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid && before.Status is not (SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid))
            list.Add(EventTypes.SubscriptionSuspended);
        if ((ended && wasLive) || (after.CancelAtPeriodEnd && !before.CancelAtPeriodEnd && !ended))
            list.Add(EventTypes.SubscriptionCanceled);
        else if ((before.CancelAtPeriodEnd && !after.CancelAtPeriodEnd && after.Live)
                 || (running && before.Status is SubscriptionStatus.PastDue or SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid))
            list.Add(EventTypes.SubscriptionResumed);
        return list;
    }

    /// <summary>
    /// <c>billing.violations_changed</c> when the organization's open violations changed — one opened or cleared, or its
    /// plan, limit or action changed (a re-measurement that only updates the usage figure is no change). <c>data</c> is
    /// <see cref="ListViolationsResponse"/> as <c>GET /v1/billing/violations</c> shows it after the change.
    /// </summary>
    public async Task ViolationsAsync(DbConnection connection, DbTransaction tx, string organizationId, IReadOnlyList<StoredViolation> before,
        CancellationToken ct)
    {
        var after = await PlanViolations.OpenAsync(connection, tx, organizationId, ct);
        static string Key(StoredViolation v) => $"{v.Metric}|{v.PlanCode}|{v.LimitValue}|{v.Action}";
        if (before.Select(Key).Order(StringComparer.Ordinal).SequenceEqual(after.Select(Key).Order(StringComparer.Ordinal))) return;
        var now = time.GetUtcNow();
        await events.PublishAsync(connection, tx, EventTypes.BillingViolationsChanged, organizationId,
            new ListViolationsResponse(after.Select(v => new ViolationResponse(v.Type, v.Metric, v.CurrentUsage, v.LimitValue, v.Action,
                v.Sentence, v.PlanCode, v.DetectedAt, v.GraceEndsAt, v.BlockingAt(now))).ToList()), ct);
    }

    /// <summary>
    /// <c>billing.dispute_opened</c> / <c>billing.dispute_closed</c> with the dispute as <c>GET /v1/admin/billing/disputes</c>
    /// lists it; of its organization, or of the operator's stream while the charge is not tied to one.
    /// </summary>
    public async Task DisputeAsync(DbConnection connection, DbTransaction tx, string providerDisputeId, bool closed, CancellationToken ct)
    {
        var r = await connection.QuerySingleOrDefaultAsync<DisputeRow>(new CommandDefinition(
            $"select {DunningSql.DisputeColumns} from billing_disputes where provider = @provider and provider_dispute_id = @providerDisputeId",
            new { provider = DunningSql.Provider, providerDisputeId }, tx, cancellationToken: ct));
        if (r is null) return;
        await events.PublishAsync(connection, tx, closed ? EventTypes.BillingDisputeClosed : EventTypes.BillingDisputeOpened, r.OrganizationId,
            r.ToView(), ct);
    }
}
