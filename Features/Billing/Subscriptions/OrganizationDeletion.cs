using System.Data.Common;
using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Outbox;
using Dapper;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Deleting an organization ends its billing, in the deletion's transaction: its pending outbox messages are cancelled
/// (nothing more is sent for it: dunning emails, a cancel-at-period-end not yet sent), then its Stripe subscription is
/// cancelled at once through the outbox (key <c>delete-org-cancel:{subscriptionId}</c>, so a retried deletion or
/// delivery cancels once) and the local row is marked canceled. A Paddle subscription is left to Paddle (no Paddle
/// API calls yet) and logged.
/// </summary>
internal sealed class OrganizationDeletion(IOutbox outbox, BillingEvents events, TimeProvider time, ILogger<OrganizationDeletion> log) : IOrganizationDeletionListener
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
        // An open checkout could still create a subscription: expire it at Stripe.
        if (await CheckoutSessions.OpenSessionAsync(connection, transaction, organizationId, now, ct) is { } sessionId)
        {
            await outbox.EnqueueAsync(connection, transaction, StripeCheckoutChannel.Expire(sessionId), ct);
            await CheckoutSessions.CloseAsync(connection, transaction, sessionId, CheckoutSessions.Expired, now, ct);
        }

        var subscription = await BillingSql.FindSubscriptionAsync(connection, transaction, organizationId, ct);
        if (subscription?.ProviderSubscriptionId is null || subscription.Status is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired) return;
        if (subscription.Provider != "stripe")
        {
            log.LogWarning("Deleted organization {OrganizationId} has a {Provider} subscription {SubscriptionId}; cancel it there",
                organizationId, subscription.Provider, subscription.ProviderSubscriptionId);
            return;
        }
        await outbox.EnqueueAsync(connection, transaction, OutboxStripe.CancelForDeletedOrganization(subscription.ProviderSubscriptionId), ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update subscriptions set status = 'canceled', canceled_at = @now, cancel_at_period_end = false, updated_at = @now
            where organization_id = @organizationId
            """, new { organizationId, now }, transaction, cancellationToken: ct));
        // subscription.canceled, in the deletion's transaction (the organization's own endpoints are already gone: the operator's hear it).
        await events.AfterAsync(connection, transaction, subscription, ct);
    }
}
