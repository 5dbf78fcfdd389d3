using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Cancel at period end and its undo. Each is one local transaction: a conditional update of the row (the database
/// decides which of two concurrent requests changes it), the Stripe call as a <c>stripe</c> outbox message and the
/// audit entry. Stripe is called after the commit, by the outbox, with a key derived from the operation
/// (<c>cancel:{subscriptionId}:{n}</c>, <c>resume:{subscriptionId}:{n}</c>, n the row's request counter), so the call
/// cannot be lost by a crash after the commit and is applied once however often it is retried. The answer is 202:
/// Stripe's own <c>customer.subscription.updated</c> confirms it later; a call Stripe refuses for good puts the local
/// flag back, with an alert (<see cref="StripeCallFailures"/>); a transient failure is retried until Stripe confirms.
/// A cancel drops a pending downgrade: the Stripe call releases its schedule first.
/// </summary>
internal sealed class SubscriptionChanges(Db db, IOutbox outbox, IAuditLog audit, CouponRedemptions coupons, BillingEvents billingEvents, TimeProvider time)
{
    private const string Cancellable = "('trialing', 'active', 'past_due', 'suspended', 'unpaid', 'paused')";

    private sealed record Changed
    {
        public string ProviderSubscriptionId { get; init; } = "";
        public int CancelRequests { get; init; }
    }

    public Task<SubscriptionRow> CancelAtPeriodEndAsync(string organizationId, CancellationToken ct) => SetAsync(organizationId, cancel: true, ct);

    public Task<SubscriptionRow> ResumeAsync(string organizationId, CancellationToken ct) => SetAsync(organizationId, cancel: false, ct);

    private Task<SubscriptionRow> SetAsync(string organizationId, bool cancel, CancellationToken ct) =>
        db.InTransactionAsync(async (c, tx) =>
        {
            var now = time.GetUtcNow();
            var changed = await c.QuerySingleOrDefaultAsync<Changed>(new CommandDefinition(
                $"""
                update subscriptions
                set cancel_at_period_end = @cancel, cancel_requests = cancel_requests + 1, updated_at = @now
                where organization_id = @organizationId and provider = 'stripe' and provider_subscription_id is not null
                  and status in {Cancellable} and cancel_at_period_end = @wasCancelling
                  and (@cancel or current_period_end is null or current_period_end > @now)
                returning provider_subscription_id, cancel_requests
                """, new { organizationId, cancel, wasCancelling = !cancel, now }, tx, cancellationToken: ct));
            var row = await BillingSql.FindSubscriptionAsync(c, tx, organizationId, ct) ?? throw None();
            if (changed is null)
            {
                if (row.Provider != "stripe" || row.ProviderSubscriptionId is null)
                    throw new ProblemException(409, "not_cancellable", $"This subscription is managed at {row.Provider}; change it there.");
                if (!SubscriptionStatus.IsLive(row.Status))
                    throw new ProblemException(409, "subscription_not_active", $"The subscription is {row.Status}; there is nothing to {(cancel ? "cancel" : "resume")}.");
                // Asking again for what is already asked is answered like the first request (nothing new is sent).
                if (cancel && row.CancelAtPeriodEnd) return row;
                if (!cancel && !row.CancelAtPeriodEnd)
                    throw new ProblemException(409, "not_cancelling", "The subscription is not set to cancel at the end of its period.");
                throw new ProblemException(409, "period_ended", "The subscription's period has ended; it can no longer be resumed. Check out again.");
            }
            if (cancel && row.PendingPlanCode is { } pending)
            {
                // The Stripe call releases the downgrade's schedule (Stripe refuses a cancel while a schedule manages the
                // subscription); the subscription ends at period end, so the downgrade is dropped here too.
                await c.ExecuteAsync(new CommandDefinition(
                    """
                    update subscriptions set pending_plan_code = null, pending_change_at = null, pending_schedule_id = null, updated_at = @now
                    where id = @Id
                    """, new { now, row.Id }, tx, cancellationToken: ct));
                await coupons.ReleaseByReferenceAsync(c, tx, organizationId, $"plan-change:{row.Id}:{pending}", ct);
                row = row with { PendingPlanCode = null, PendingChangeAt = null };
            }
            await outbox.EnqueueAsync(c, tx, OutboxStripe.SetCancelAtPeriodEnd(organizationId, changed.ProviderSubscriptionId, cancel, changed.CancelRequests), ct);
            await audit.RecordAsync(c, tx, new AuditEntry(cancel ? AuditActions.SubscriptionCancel : AuditActions.SubscriptionResume,
                "subscription", row.Id, organizationId, new { cancelAtPeriodEnd = new { from = !cancel, to = cancel }, row.CurrentPeriodEnd }), ct);
            await billingEvents.SubscriptionAsync(c, tx, cancel ? EventTypes.SubscriptionCanceled : EventTypes.SubscriptionResumed, organizationId, ct);
            return row;
        }, ct);

    public static ProblemException None() => new(404, "no_subscription", "This organization has no subscription.");
}
