using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// <c>checkout.session.completed</c> (mode <c>subscription</c>): links the customer and the new subscription to the
/// organization (<c>client_reference_id</c>, else <c>metadata.organization_id</c>). The subscription's state itself
/// comes from its own events: a row created here is <c>incomplete</c> with no provider time, so that whichever
/// <c>customer.subscription.*</c> event arrives (before or after this one) applies.
/// </summary>
internal sealed class StripeCheckoutCompletedHandler(SubscriptionOwnership ownership, TimeProvider time, ILogger<StripeCheckoutCompletedHandler> log) : IWebhookHandler
{
    public string Provider => "stripe";

    public bool Handles(string eventType) => eventType == "checkout.session.completed";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var root = document.RootElement;
        if (root.Get("data", "object") is not { ValueKind: JsonValueKind.Object } session || session.String("mode") != "subscription") return;
        var claimed = session.String("client_reference_id") ?? session.String("metadata", "organization_id");
        var customerId = session.IdOrString("customer");
        var subscriptionId = session.IdOrString("subscription");
        var plan = session.String("metadata", "plan");
        var (c, tx) = (context.Connection, context.Transaction);
        var now = time.GetUtcNow();
        await CheckoutSessions.CloseAsync(c, tx, session.String("id"), CheckoutSessions.Completed, now, ct);
        if (claimed is null || customerId is null)
        {
            log.LogWarning("Checkout session {SessionId} has no organization or customer; ignored", session.String("id"));
            return;
        }
        var organizationId = subscriptionId is null
            ? claimed
            : await ownership.ResolveAsync(c, tx, "stripe", subscriptionId, customerId, claimed, SubscriptionStatus.Incomplete,
                await BillingSql.FindByProviderIdAsync(c, tx, "stripe", subscriptionId, ct), ct);
        if (organizationId is null) return;
        await SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "stripe", customerId, now, ct);
        if (subscriptionId is null) return;
        if (!await SubscriptionWrites.PlanExistsAsync(c, tx, plan, ct))
        {
            // The subscription's own events carry its price, which names the plan.
            log.LogWarning("Checkout session {SessionId} names no known plan ({Plan}); the subscription is linked by its own events", session.String("id"), plan);
            return;
        }
        var created = root.UnixTime("created") ?? now;
        await c.ExecuteAsync(new CommandDefinition(
            """
            insert into subscriptions (id, organization_id, plan_code, provider, provider_subscription_id, provider_customer_id, status,
                                       created_at, updated_at)
            values (@id, @organizationId, @plan, 'stripe', @subscriptionId, @customerId, 'incomplete', @now, @now)
            on conflict (organization_id) do update set
                plan_code = excluded.plan_code, provider = 'stripe', provider_subscription_id = excluded.provider_subscription_id,
                provider_customer_id = excluded.provider_customer_id, provider_price_id = null, status = 'incomplete',
                current_period_start = null, current_period_end = null, cancel_at_period_end = excluded.cancel_at_period_end,
                canceled_at = null, trial_end = null, grace_ends_at = null, payment_failed_at = null, payment_retry_count = 0,
                provider_updated_at = null, updated_at = excluded.updated_at
            where (subscriptions.provider_subscription_id is null or subscriptions.provider_subscription_id <> excluded.provider_subscription_id)
              and (subscriptions.provider_updated_at is null or subscriptions.provider_updated_at <= @created)
            """, new { id = Ids.New(time), organizationId, plan, subscriptionId, customerId, now, created }, tx, cancellationToken: ct));
    }
}
