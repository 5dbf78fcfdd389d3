using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Dunning;

/// <summary>
/// Stripe's <c>invoice.payment_action_required</c> (the bank wants the customer to confirm, e.g. 3-D Secure): the
/// owners are emailed the invoice's hosted page, once per invoice (<c>payment_action:{invoice}:{recipient}</c>),
/// however many times the event or its retries arrive. The subscription's status is Stripe's to change.
/// </summary>
internal sealed class InvoicePaymentActionRequired(BillingNotices notices, ILogger<InvoicePaymentActionRequired> log) : IWebhookHandler
{
    public string Provider => DunningSql.Provider;

    public bool Handles(string eventType) => eventType == "invoice.payment_action_required";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        var invoice = StripeObjects.Invoice(webhook.Payload);
        if (invoice?.SubscriptionId is null)
        {
            log.LogWarning("Stripe event {EventId} ({EventType}) names no subscription invoice; stored, nothing done", webhook.EventId, webhook.EventType);
            return;
        }
        var subscription = await BillingSql.FindByProviderIdAsync(connection, tx, DunningSql.Provider, invoice.SubscriptionId, ct);
        if (subscription is null)
        {
            log.LogWarning("Stripe asked for a payment confirmation of invoice {InvoiceId} for subscription {SubscriptionId}, which Backstop does not know; nothing done",
                invoice.InvoiceId, invoice.SubscriptionId);
            return;
        }
        if (invoice.HostedInvoiceUrl is null)
            log.LogWarning("Invoice {InvoiceId} needs a payment confirmation but its event carries no hosted_invoice_url", invoice.InvoiceId);
        await notices.ToOwnersAsync(connection, tx, subscription.OrganizationId, $"payment_action:{invoice.InvoiceId}",
            DunningEmails.ActionRequired(invoice), subscription.Id, ct);
    }
}
