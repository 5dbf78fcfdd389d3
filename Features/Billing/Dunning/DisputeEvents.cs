using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Providers.Stripe;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>charge.dispute.created</c> and <c>charge.dispute.closed</c>: the dispute is a row of
/// <c>billing_disputes</c> (one per Stripe dispute, whichever event arrives first), and <c>Billing:AlertEmail</c>
/// and the organization's owners are alerted once per dispute and event kind (<c>dispute:{id}:{created|closed}:{recipient}</c>).
/// </summary>
/// <remarks>
/// The organization is the charge's customer's (<c>billing_customers</c>). A dispute event carries the charge as an
/// id unless the endpoint expands it. Fetching the charge from Stripe here, inside the inbox's transaction, would hold
/// the database's write lock across a network call, so an unknown organization is looked up afterwards through the
/// outbox (<see cref="DisputeLookupChannel"/>), which alerts the owners once it is found; <c>Billing:AlertEmail</c>
/// is alerted at once either way.
/// </remarks>
internal sealed class DisputeEvents(BillingNotices notices, BillingEvents billingEvents, StripeApi stripe, IOptions<BillingOptions> options, TimeProvider time, ILogger<DisputeEvents> log)
    : IWebhookHandler
{
    public const string Created = "charge.dispute.created";
    public const string Closed = "charge.dispute.closed";

    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType is Created or Closed;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        var dispute = StripeObjects.Dispute(webhook.Payload);
        if (dispute is null)
        {
            log.LogWarning("Stripe event {EventId} ({EventType}) carries no dispute; stored, nothing done", webhook.EventId, webhook.EventType);
            return;
        }
        var closed = webhook.EventType == Closed;
        var now = time.GetUtcNow();
        var organizationId = dispute.CustomerId is null
            ? null
            : await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(DunningSql.OrganizationOfCustomer,
                new { provider = DunningSql.Provider, customerId = dispute.CustomerId }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(closed ? DunningSql.RecordDisputeClosed : DunningSql.RecordDisputeOpened, new
        {
            // SQLite binds parameter names case-sensitively: every name is spelled as in the statement.
            id = Ids.New(time), provider = DunningSql.Provider, disputeId = dispute.DisputeId, chargeId = dispute.ChargeId,
            customerId = dispute.CustomerId, organizationId, amount = dispute.Amount, currency = dispute.Currency, reason = dispute.Reason,
            status = dispute.Status, openedAt = dispute.OpenedAt ?? dispute.Created ?? now,
            closedAt = dispute.Created ?? now, now,
        }, tx, cancellationToken: ct));

        // An earlier event (or the lookup) may already have tied the dispute to its organization.
        organizationId ??= await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select organization_id from billing_disputes where provider = @provider and provider_dispute_id = @disputeId",
            new { provider = DunningSql.Provider, disputeId = dispute.DisputeId }, tx, cancellationToken: ct));
        await billingEvents.DisputeAsync(connection, tx, dispute.DisputeId, closed, ct);

        var key = $"dispute:{dispute.DisputeId}:{(closed ? "closed" : "created")}";
        var content = DunningEmails.Dispute(dispute, closed, organizationId);
        var recipients = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.Value.AlertEmail)) recipients.Add(options.Value.AlertEmail);
        if (organizationId is not null) recipients.AddRange(await notices.OwnersAsync(connection, tx, organizationId, ct));
        List<OutboxEnvelope> messages = [.. BillingNotices.To(recipients, key, content, dispute.DisputeId)];
        if (organizationId is null && dispute.ChargeId is not null && stripe.Configured)
            messages.Add(OutboxDisputeLookup.Create(dispute.DisputeId, dispute.ChargeId));
        await notices.EnqueueAsync(connection, tx, messages, ct);
        log.LogWarning("Stripe dispute {DisputeId} {Kind}: {Amount} {Currency}, reason {Reason}, status {Status}, organization {OrganizationId}",
            dispute.DisputeId, closed ? "closed" : "opened", dispute.Amount, dispute.Currency, dispute.Reason, dispute.Status, organizationId ?? "unknown");
    }
}
