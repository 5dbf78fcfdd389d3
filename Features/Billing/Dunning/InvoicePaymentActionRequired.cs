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
        if (await InvoiceEvents.FindAsync(context, log, ct) is not (var invoice, var subscription)) return;
        if (invoice.HostedInvoiceUrl is null)
            log.LogWarning("Invoice {InvoiceId} needs a payment confirmation but its event carries no hosted_invoice_url", invoice.InvoiceId);
        await notices.ToOwnersAsync(connection, tx, subscription.OrganizationId, $"payment_action:{invoice.InvoiceId}",
            DunningEmails.ActionRequired(invoice), subscription.Id, ct);
    }
}
