using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Dunning;

/// <summary>The first step of every dunning handler: the event's invoice and the local subscription it belongs to.</summary>
internal static class InvoiceEvents
{
    /// <summary>
    /// The invoice and its subscription, or null (logged; the event stays handled, since a retry would never find
    /// more) when the event names no subscription invoice, or a subscription Backstop does not know (another
    /// system's customer on the same Stripe account, or a subscription deleted here).
    /// </summary>
    /// <param name="noSubscriptionLevel">How an event without a subscription invoice is logged: a warning for a failure, information for a payment.</param>
    public static async Task<(StripeInvoice Invoice, SubscriptionRow Subscription)?> FindAsync(WebhookContext context, ILogger log, CancellationToken ct,
        LogLevel noSubscriptionLevel = LogLevel.Warning)
    {
        var (connection, tx, webhook) = context;
        var invoice = StripeObjects.Invoice(webhook.Payload);
        if (invoice?.SubscriptionId is null)
        {
            log.Log(noSubscriptionLevel, "Stripe event {EventId} ({EventType}) names no subscription invoice; nothing done for dunning",
                webhook.EventId, webhook.EventType);
            return null;
        }
        var subscription = await BillingSql.FindByProviderIdAsync(connection, tx, DunningSql.Provider, invoice.SubscriptionId, ct);
        if (subscription is null)
        {
            log.LogWarning("Stripe event {EventType} of invoice {InvoiceId} names subscription {SubscriptionId}, which Backstop does not know; nothing done",
                webhook.EventType, invoice.InvoiceId, invoice.SubscriptionId);
            return null;
        }
        return (invoice, subscription);
    }
}
