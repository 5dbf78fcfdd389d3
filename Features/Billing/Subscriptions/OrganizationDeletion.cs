using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Providers.Paddle;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Deleting an organization ends its billing, in the deletion's transaction: its pending outbox messages are cancelled
/// (nothing more is sent for it: dunning emails, a cancel-at-period-end not yet sent), then its subscription is
/// cancelled at once through the outbox — Stripe's on channel <c>stripe</c> (key <c>delete-org-cancel:{subscriptionId}</c>),
/// Paddle's on channel <c>paddle</c> (key <c>paddle-delete-org-cancel:{subscriptionId}</c>), so a retried deletion or
/// delivery cancels once — the local row is marked canceled and a <c>subscription.cancel</c> audit row says so. Without
/// <c>Paddle:ApiKey</c> the Paddle cancellation is still stored (it waits, retried, until a key is configured), the
/// deletion completes, an error is logged and <c>Billing:AlertEmail</c> is alerted at once: it is never lost silently.
/// </summary>
internal sealed class OrganizationDeletion(Db db, IOutbox outbox, BillingEvents events, IAuditLog audit, PaddleClient paddle, IOptions<BillingOptions> options,
    TimeProvider time, ILogger<OrganizationDeletion> log) : IOrganizationDeletionListener
{
    public async Task OnDeletingAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct)
    {
        var cancelled = await outbox.CancelPendingAsync(connection, transaction, organizationId, "organization deleted", ct);
        if (cancelled > 0) log.LogInformation("Cancelled {Count} pending outbox messages of deleted organization {OrganizationId}", cancelled, organizationId);

        var now = time.GetUtcNow();
        // Remembered, so that an event attaching a subscription to it later cancels that subscription instead.
        await connection.ExecuteAsync(new CommandDefinition(
            "insert into billing_deleted_organizations (organization_id, deleted_at) values (@organizationId, @now) on conflict do nothing",
            new { organizationId, now }, transaction, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            "delete from access_overrides where organization_id = @organizationId", new { organizationId }, transaction, cancellationToken: ct));
        // An open checkout could still create a subscription: expire it at Stripe. A checkout being opened right now
        // meets the row marked deleted and expires its own session (CheckoutSessions).
        if (await CheckoutSessions.EndForDeletedOrganizationAsync(connection, transaction, db.Dialect, organizationId, now, ct) is { } sessionId)
            await outbox.EnqueueAsync(connection, transaction, StripeCheckoutChannel.Expire(sessionId), ct);

        var subscription = await BillingSql.FindSubscriptionAsync(connection, transaction, organizationId, ct);
        if (subscription?.ProviderSubscriptionId is null || subscription.Status is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired) return;
        var provider = subscription.Provider;
        var subscriptionId = subscription.ProviderSubscriptionId;
        switch (provider)
        {
            case "stripe":
                await outbox.EnqueueAsync(connection, transaction, OutboxStripe.CancelForDeletedOrganization(subscriptionId), ct);
                break;
            case "paddle":
                await outbox.EnqueueAsync(connection, transaction, OutboxPaddle.CancelForDeletedOrganization(subscriptionId), ct);
                if (!paddle.Configured)
                {
                    log.LogError("Deleted organization {OrganizationId} has Paddle subscription {SubscriptionId} but Paddle:ApiKey is not set: its cancellation waits in the outbox until it is; Paddle may charge it meanwhile",
                        organizationId, subscriptionId);
                    await PaddleCallFailures.AlertOperatorAsync(outbox, options.Value, connection, transaction, $"paddle-not-configured:{subscriptionId}",
                        $"Billing: set Paddle:ApiKey to cancel Paddle subscription {subscriptionId}",
                        $"Organization {organizationId} was deleted; its Paddle subscription {subscriptionId} must be cancelled, but Paddle:ApiKey is not set. " +
                        "The cancellation waits in the outbox and goes out once the key is configured; until then Paddle may still charge it.",
                        subscriptionId, ct);
                }
                break;
            default:
                log.LogError("Deleted organization {OrganizationId} has a {Provider} subscription {SubscriptionId} Backstop cannot cancel; cancel it there",
                    organizationId, provider, subscriptionId);
                return;
        }
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update subscriptions set status = 'canceled', canceled_at = @now, cancel_at_period_end = false, updated_at = @now
            where organization_id = @organizationId
            """, new { organizationId, now }, transaction, cancellationToken: ct));
        await audit.RecordAsync(connection, transaction, new AuditEntry(AuditActions.SubscriptionCancel, "subscription", subscription.Id, organizationId,
            new { provider, providerSubscriptionId = subscriptionId, status = new { from = subscription.Status, to = SubscriptionStatus.Canceled },
                effectiveFrom = "immediately", reason = "organization deleted" }), ct);
        // subscription.canceled, in the deletion's transaction (the organization's own endpoints are already gone: the operator's hear it).
        await events.AfterAsync(connection, transaction, subscription, ct);
    }
}
