using Backstop.Features.Billing;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Quota;

/// <summary>
/// Paddle's renewals: <c>transaction.completed</c> of origin <c>subscription_recurring</c> (its
/// <c>billing_period</c>) and <c>subscription.created|updated</c> (their <c>current_billing_period</c>) move the
/// organization's billing anchor, once per period. The organization is <c>custom_data.organization_id</c> (set at
/// checkout), or the one an earlier event of the same subscription named: Quota keeps its own anchors by
/// organization. Only the subscription that pays moves them: one Billing knows as secondary or cancelled
/// (<see cref="ISubscriptionOwnership"/>, asked on the delivery's transaction) resets nothing.
/// </summary>
internal sealed class PaddleRenewalHandler(TimeProvider time, ISubscriptionOwnership ownership, ILogger<PaddleRenewalHandler> log) : IWebhookHandler
{
    public string Provider => "paddle";

    public bool Handles(string eventType) => eventType is "transaction.completed" or "subscription.updated" or "subscription.created";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var data = document.RootElement.Prop("data");
        JsonElement period;
        string? subscriptionId;
        if (context.Event.EventType == "transaction.completed")
        {
            // Mid-cycle charges (subscription_update, subscription_charge) pay for the current period, they do not start one.
            if (data.Prop("origin").Str() != "subscription_recurring") return;
            period = data.Prop("billing_period");
            subscriptionId = data.Prop("subscription_id").Str();
        }
        else
        {
            period = data.Prop("current_billing_period");
            subscriptionId = data.Prop("id").Str();
        }
        var start = period.Prop("starts_at").Rfc3339();
        var end = period.Prop("ends_at").Rfc3339();
        // A canceled or paused subscription has no current period: nothing moves.
        if (start is null || end is null || end <= start) return;

        var organizationId = data.Prop("custom_data").Prop("organization_id").Str()
            ?? await UsageAnchors.OrganizationOfAsync(context.Connection, context.Transaction, "paddle", subscriptionId, ct);
        if (organizationId is null)
        {
            log.LogWarning("Paddle {EventType} {EventId} names no organization (custom_data.organization_id); usage periods follow the previous anchor",
                context.Event.EventType, context.Event.EventId);
            return;
        }
        if (await ownership.StandingAsync(context.Connection, context.Transaction, organizationId, "paddle", subscriptionId, ct) == SubscriptionStanding.DoesNotPay)
        {
            // Anchors belong to the subscription that pays: a secondary or cancelled subscription's renewal resets nothing.
            log.LogInformation("Paddle {EventType} {EventId}: subscription {SubscriptionId} is not the organization's paying subscription; usage periods unchanged",
                context.Event.EventType, context.Event.EventId, subscriptionId);
            return;
        }
        await UsageAnchors.MoveAsync(context.Connection, context.Transaction, organizationId, "paddle", subscriptionId, start.Value, end.Value,
            context.Event.EventId, time.GetUtcNow(), ct);
    }
}
