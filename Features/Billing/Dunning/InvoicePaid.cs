using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>invoice.paid</c> and <c>invoice.payment_succeeded</c> (both come for one payment; either one is
/// enough, and the second changes nothing): a past-due, suspended or unpaid subscription is active again, its grace
/// end, failure time and retry count cleared. The invoice is remembered as paid, so that a failure of it delivered
/// late does not start dunning again.
/// </summary>
internal sealed class InvoicePaid(BillingEvents billingEvents, TimeProvider time, ILogger<InvoicePaid> log) : IWebhookHandler
{
    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType is "invoice.paid" or "invoice.payment_succeeded";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        if (await InvoiceEvents.FindAsync(context, log, ct, LogLevel.Information) is not (var invoice, var subscription)) return;
        var now = time.GetUtcNow();
        await connection.ExecuteAsync(new CommandDefinition(DunningSql.RecordPaid, new
        {
            provider = DunningSql.Provider, invoiceId = invoice.InvoiceId, subscriptionId = subscription.Id, organizationId = subscription.OrganizationId,
            eventId = invoice.EventId, paidAt = invoice.Created ?? now, now,
        }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(DunningSql.ApplyPaid, new { id = subscription.Id, now }, tx, cancellationToken: ct));
        await billingEvents.AfterAsync(connection, tx, subscription, ct);
        if (subscription.PaymentRetryCount > 0 || subscription.Status is SubscriptionStatus.PastDue or SubscriptionStatus.Suspended or SubscriptionStatus.Unpaid)
            log.LogInformation("Invoice {InvoiceId} paid: subscription {SubscriptionId} ({Status}) is out of dunning", invoice.InvoiceId, subscription.Id, subscription.Status);
    }
}
