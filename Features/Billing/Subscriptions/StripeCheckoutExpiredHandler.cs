using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary><c>checkout.session.expired</c>: the organization's checkout is no longer in flight, so a new checkout may open.</summary>
internal sealed class StripeCheckoutExpiredHandler(TimeProvider time) : IWebhookHandler
{
    public string Provider => "stripe";

    public bool Handles(string eventType) => eventType == "checkout.session.expired";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        if (document.RootElement.Get("data", "object") is not { ValueKind: JsonValueKind.Object } session) return;
        await CheckoutSessions.CloseAsync(context.Connection, context.Transaction, session.String("id"), CheckoutSessions.Expired, time.GetUtcNow(), ct);
    }
}
