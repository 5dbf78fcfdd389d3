using Backstop.Features.Billing.Reconciliation;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Which organization a provider's subscription event may change, decided in the event's transaction. What is already
/// known wins: the organization already holding this subscription id, then the owner of the provider customer
/// (<c>billing_customers</c>); what the event itself claims (Stripe <c>metadata.organization_id</c>, Paddle's verified
/// checkout reference) only names the organization of a subscription nobody holds yet. The event is refused (answer
/// null, nothing applied) into a discrepancy and an alert when it would
/// <list type="bullet">
/// <item>move a subscription to another organization (its claim or customer disagrees with what is known);</item>
/// <item>replace another live subscription of the organization (double billing must be seen, never swapped in);</item>
/// <item>attach a live subscription to a deleted organization (it is then cancelled at once through the outbox: channel
/// <c>stripe</c> or <c>paddle</c>).</item>
/// </list>
/// </summary>
internal sealed class SubscriptionOwnership(Discrepancies discrepancies, IOutbox outbox, ILogger<SubscriptionOwnership> log)
{
    public async Task<string?> ResolveAsync(DbConnection c, DbTransaction tx, string provider, string subscriptionId, string? customerId,
        string? claimedOrganizationId, string incomingStatus, SubscriptionRow? existing, CancellationToken ct)
    {
        var customerOwner = await SubscriptionWrites.OrganizationOfCustomerAsync(c, tx, provider, customerId, ct);
        if (existing is not null && customerOwner is not null && existing.OrganizationId != customerOwner)
        {
            await discrepancies.RecordAsync(c, tx, provider, existing.OrganizationId, subscriptionId, DiscrepancyFields.Organization,
                existing.OrganizationId, customerOwner, alert: true, repaired: false, ct);
            return null;
        }
        var known = existing?.OrganizationId ?? customerOwner;
        if (known is not null && claimedOrganizationId is not null && claimedOrganizationId != known)
        {
            await discrepancies.RecordAsync(c, tx, provider, known, subscriptionId, DiscrepancyFields.Organization, known, claimedOrganizationId,
                alert: true, repaired: false, ct);
            return null;
        }
        var organizationId = known ?? claimedOrganizationId;
        if (organizationId is null) return null;

        var ending = incomingStatus is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired;
        if (!ending && await IsDeletedAsync(c, tx, organizationId, ct))
        {
            var cancel = provider switch
            {
                "stripe" => OutboxStripe.CancelForDeletedOrganization(subscriptionId),
                "paddle" => OutboxPaddle.CancelForDeletedOrganization(subscriptionId),
                _ => null,
            };
            if (cancel is not null) await outbox.EnqueueAsync(c, tx, cancel, ct);
            await discrepancies.RecordAsync(c, tx, provider, organizationId, subscriptionId, DiscrepancyFields.DeletedOrganization, "deleted", incomingStatus,
                alert: true, repaired: cancel is not null, ct);
            log.LogWarning("{Provider} subscription {SubscriptionId} names deleted organization {OrganizationId}: not attached{Cancel}",
                provider, subscriptionId, organizationId, cancel is not null ? $"; cancelled at {provider} through the outbox" : "; cancel it at the provider");
            return null;
        }

        var current = await BillingSql.FindSubscriptionAsync(c, tx, organizationId, ct);
        if (current is { Live: true } && (current.Provider != provider || current.ProviderSubscriptionId != subscriptionId))
        {
            await discrepancies.RecordAsync(c, tx, provider, organizationId, subscriptionId,
                current.Provider != provider ? DiscrepancyFields.ProviderConflict : DiscrepancyFields.SubscriptionConflict,
                $"{current.Provider}:{current.ProviderSubscriptionId} ({current.Status})", $"{provider}:{subscriptionId} ({incomingStatus})",
                alert: true, repaired: false, ct);
            return null;
        }
        return organizationId;
    }

    public static async Task<bool> IsDeletedAsync(DbConnection c, DbTransaction? tx, string organizationId, CancellationToken ct) =>
        await c.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from billing_deleted_organizations where organization_id = @organizationId", new { organizationId }, tx, cancellationToken: ct)) > 0;
}
