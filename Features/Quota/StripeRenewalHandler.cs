using Backstop.Features.Billing;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Quota;

/// <summary>
/// Stripe <c>invoice.paid</c> of a renewal (<c>billing_reason</c> <c>subscription_cycle</c>): the new period (the
/// subscription line's <c>period.start/end</c>) becomes the organization's billing anchor. The organization is the
/// <c>organization_id</c> of the subscription's metadata (<c>parent.subscription_details.metadata</c> since API
/// version 2025-03-31, else the invoice's or the line's metadata), or the one an earlier renewal of the same
/// subscription named. Runs beside Billing's own <c>invoice.paid</c> handler, in the same transaction. Only the
/// subscription that pays moves the anchor: one Billing knows as secondary or cancelled (<see cref="ISubscriptionOwnership"/>)
/// resets nothing.
/// </summary>
internal sealed class StripeRenewalHandler(TimeProvider time, ISubscriptionOwnership ownership, ILogger<StripeRenewalHandler> log) : IWebhookHandler
{
    public string Provider => "stripe";

    public bool Handles(string eventType) => eventType == "invoice.paid";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var invoice = document.RootElement.Prop("data").Prop("object");
        if (invoice.Prop("billing_reason").Str() != "subscription_cycle") return;

        var details = invoice.Prop("parent").Prop("subscription_details");
        var subscriptionId = details.Prop("subscription").Id() ?? invoice.Prop("subscription").Id();
        var lines = invoice.Prop("lines").Prop("data");
        var line = lines.ValueKind == JsonValueKind.Array
            ? lines.EnumerateArray().FirstOrDefault(l => l.Prop("period").Prop("start").ValueKind == JsonValueKind.Number)
            : default;
        var organizationId = details.Prop("metadata").Prop("organization_id").Str()
            ?? invoice.Prop("subscription_details").Prop("metadata").Prop("organization_id").Str()
            ?? invoice.Prop("metadata").Prop("organization_id").Str()
            ?? line.Prop("metadata").Prop("organization_id").Str()
            ?? await UsageAnchors.OrganizationOfAsync(context.Connection, context.Transaction, "stripe", subscriptionId, ct);
        var start = line.Prop("period").Prop("start").Unix();
        var end = line.Prop("period").Prop("end").Unix();
        if (organizationId is null || start is null || end is null || end <= start)
        {
            // Nothing to anchor to; the periods still roll over by the clock from the last anchor.
            log.LogWarning("Stripe renewal {EventId} names no organization or period; usage periods follow the previous anchor", context.Event.EventId);
            return;
        }
        if (await ownership.StandingAsync(context.Connection, context.Transaction, organizationId, "stripe", subscriptionId, ct) == SubscriptionStanding.DoesNotPay)
        {
            // Anchors belong to the subscription that pays: a secondary or cancelled subscription's renewal resets nothing.
            log.LogInformation("Stripe {EventType} {EventId}: subscription {SubscriptionId} is not the organization's paying subscription; usage periods unchanged",
                context.Event.EventType, context.Event.EventId, subscriptionId);
            return;
        }
        await UsageAnchors.MoveAsync(context.Connection, context.Transaction, organizationId, "stripe", subscriptionId, start.Value, end.Value,
            context.Event.EventId, time.GetUtcNow(), ct);
    }
}
