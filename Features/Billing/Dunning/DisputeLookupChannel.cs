using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Providers.Stripe;

namespace Backstop.Features.Billing.Dunning;

/// <summary>What the <c>billing-dispute-lookup</c> channel stores: a dispute whose organization is not known yet, and its charge.</summary>
internal sealed record DisputeLookup(string DisputeId, string ChargeId);

/// <summary>
/// Finds the organization of a dispute whose event carried the charge as an id only: reads the charge from Stripe
/// (<c>GET /v1/charges/{id}</c>, outside any database transaction, retried by the outbox), maps its customer through
/// <c>billing_customers</c>, records the organization on the dispute (only while it has none) and alerts the owners
/// with the same keys the event handler uses, so nobody is alerted twice whichever of the two gets there first.
/// </summary>
internal sealed class DisputeLookupChannel(Db db, StripeApi stripe, IOutbox outbox, IOrganizationDirectory directory, TimeProvider time,
    ILogger<DisputeLookupChannel> log) : IOutboxChannel
{
    public string Name => OutboxDisputeLookup.Channel;

    private sealed record DisputeRow
    {
        public string ProviderDisputeId { get; init; } = "";
        public string? ChargeId { get; init; }
        public string? CustomerId { get; init; }
        public string? OrganizationId { get; init; }
        public long Amount { get; init; }
        public string Currency { get; init; } = "";
        public string? Reason { get; init; }
        public string Status { get; init; } = "";
        public DateTimeOffset OpenedAt { get; init; }
        public DateTimeOffset? ClosedAt { get; init; }
    }

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var lookup = message.PayloadAs<DisputeLookup>();
        if (!stripe.Configured) return DeliveryResult.Permanent("Stripe:ApiKey is not set: the dispute's charge cannot be read.");
        string? customerId;
        try
        {
            var charge = await new Stripe.ChargeService(stripe.Client).GetAsync(lookup.ChargeId, null, null, ct);
            customerId = charge.CustomerId;
        }
        catch (Exception e) when (StripeErrors.IsStripeFailure(e, ct))
        {
            return StripeErrors.Delivery(e, $"Reading charge {lookup.ChargeId}");
        }
        if (customerId is null)
        {
            log.LogWarning("Dispute {DisputeId}: its charge {ChargeId} has no customer; the dispute stays without organization", lookup.DisputeId, lookup.ChargeId);
            return DeliveryResult.Sent(lookup.ChargeId);
        }

        var now = time.GetUtcNow();
        var alerted = await db.InTransactionAsync(async (connection, tx) =>
        {
            var organizationId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(DunningSql.OrganizationOfCustomer,
                new { provider = DunningSql.Provider, customerId }, tx, cancellationToken: ct));
            if (organizationId is null) return (int?)null;
            var row = await connection.QuerySingleOrDefaultAsync<DisputeRow>(new CommandDefinition(
                $"""
                update billing_disputes
                set organization_id = @organizationId, customer_id = coalesce(customer_id, @customerId), updated_at = @now
                where provider = @provider and provider_dispute_id = @disputeId and organization_id is null
                returning {DunningSql.DisputeColumns}
                """, new { organizationId, customerId, now, provider = DunningSql.Provider, disputeId = lookup.DisputeId }, tx, cancellationToken: ct));
            if (row is null) return 0;
            var owners = await directory.NotificationEmailsAsync(connection, tx, organizationId, null, ct);
            var dispute = new StripeDispute("", row.ProviderDisputeId, row.ChargeId, customerId, row.Amount, row.Currency, row.Reason, row.Status, row.OpenedAt, null);
            var messages = BillingNotices.To(owners, $"dispute:{row.ProviderDisputeId}:created", DunningEmails.Dispute(dispute, false, organizationId), row.ProviderDisputeId).ToList();
            if (row.ClosedAt is not null)
                messages.AddRange(BillingNotices.To(owners, $"dispute:{row.ProviderDisputeId}:closed", DunningEmails.Dispute(dispute, true, organizationId), row.ProviderDisputeId));
            return messages.Count == 0 ? 0 : await outbox.EnqueueManyAsync(connection, tx, messages, ct);
        }, ct);
        if (alerted is null)
            log.LogWarning("Dispute {DisputeId}: the customer of its charge {ChargeId} is no Backstop organization's; the dispute stays without organization",
                lookup.DisputeId, lookup.ChargeId);
        else
            log.LogInformation("Dispute {DisputeId} tied to its organization through charge {ChargeId}; {Count} owner alerts enqueued", lookup.DisputeId, lookup.ChargeId, alerted);
        return DeliveryResult.Sent(lookup.ChargeId);
    }
}
