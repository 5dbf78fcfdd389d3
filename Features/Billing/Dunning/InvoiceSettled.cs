using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>invoice.voided</c> and <c>invoice.marked_uncollectible</c>: the failing invoice is no longer collected,
/// so the dunning it opened ends (grace end, failure time and retry count cleared when it was the invoice that opened
/// them); the invoice is remembered as settled (<c>billing_paid_invoices</c>), so that a late failure of it starts
/// nothing. The next failure, of another invoice, opens a fresh grace with a first notice.
/// </summary>
internal sealed class InvoiceSettled(TimeProvider time, ILogger<InvoiceSettled> log) : IWebhookHandler
{
    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType is "invoice.voided" or "invoice.marked_uncollectible";

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
        var cleared = await connection.ExecuteAsync(new CommandDefinition(DunningSql.ApplySettled,
            new { id = subscription.Id, invoiceId = invoice.InvoiceId, now }, tx, cancellationToken: ct));
        log.LogInformation("Invoice {InvoiceId} {Event}: dunning of subscription {SubscriptionId} {Outcome}", invoice.InvoiceId, webhook.EventType,
            subscription.Id, cleared == 1 ? "cleared" : "left (another invoice opened it)");
    }
}
