using Backstop.Infrastructure.Inbox;
using Dapper;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>invoice.paid</c> and <c>invoice.payment_succeeded</c> (both come for one payment; either one is
/// enough, and the second changes nothing): a past-due, suspended or unpaid subscription is active again, its grace
/// end, failure time and retry count cleared. The invoice is remembered as paid, so that a failure of it delivered
/// late does not start dunning again.
/// </summary>
internal sealed class InvoicePaid(TimeProvider time, ILogger<InvoicePaid> log) : IWebhookHandler
{
    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType is "invoice.paid" or "invoice.payment_succeeded";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        var invoice = StripeObjects.Invoice(webhook.Payload);
        if (invoice?.SubscriptionId is null)
        {
            log.LogInformation("Stripe event {EventId} ({EventType}) is not about a subscription's invoice; nothing done for dunning", webhook.EventId, webhook.EventType);
            return;
        }
        var subscription = await BillingSql.FindByProviderIdAsync(connection, tx, DunningSql.Provider, invoice.SubscriptionId, ct);
        if (subscription is null)
        {
            log.LogWarning("Stripe reported invoice {InvoiceId} paid for subscription {SubscriptionId}, which Backstop does not know; nothing done",
                invoice.InvoiceId, invoice.SubscriptionId);
            return;
        }
        var now = time.GetUtcNow();
        await connection.ExecuteAsync(new CommandDefinition(DunningSql.RecordPaid, new
        {
            provider = DunningSql.Provider, invoiceId = invoice.InvoiceId, subscriptionId = subscription.Id, organizationId = subscription.OrganizationId,
            eventId = invoice.EventId, paidAt = invoice.Created ?? now, now,
        }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(DunningSql.ApplyPaid, new { id = subscription.Id, now }, tx, cancellationToken: ct));
        if (subscription.PaymentRetryCount > 0 || subscription.Status is SubscriptionStatus.PastDue or SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid)
            log.LogInformation("Invoice {InvoiceId} paid: subscription {SubscriptionId} ({Status}) is out of dunning", invoice.InvoiceId, subscription.Id, subscription.Status);
    }
}
