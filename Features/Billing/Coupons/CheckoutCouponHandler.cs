using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Coupons;

/// <summary>
/// The coupon side of a Checkout Session's end: <c>checkout.session.expired</c> gives its held redemption back (once:
/// the held → released change decides, so a duplicate or replayed event releases nothing more);
/// <c>checkout.session.completed</c> marks it redeemed. The session is found by its id (attached at creation) or by
/// the redemption id in its metadata (<c>coupon_redemption</c>), whichever the checkout recorded. Runs after the
/// billing helper's own handlers of these events (order 100).
/// </summary>
internal sealed class CheckoutCouponHandler(CouponRedemptions redemptions, ILogger<CheckoutCouponHandler> log) : IWebhookHandler
{
    public string Provider => "stripe";

    public int Order => 100;

    public bool Handles(string eventType) => eventType is "checkout.session.expired" or "checkout.session.completed";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        if (!document.RootElement.TryGetProperty("data", out var data) || !data.TryGetProperty("object", out var session)
            || !session.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.String)
            return;
        var sessionId = idElement.GetString()!;
        string? redemptionId = session.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty(CouponRedemptions.SessionMetadataKey, out var r) && r.ValueKind == JsonValueKind.String
            ? r.GetString() : null;

        if (context.Event.EventType == "checkout.session.expired")
        {
            if (await redemptions.ReleaseCheckoutAsync(context.Connection, context.Transaction, sessionId, redemptionId, ct))
                log.LogInformation("Checkout session {SessionId} expired: its coupon redemption was given back", sessionId);
        }
        else
        {
            await redemptions.ConfirmCheckoutAsync(context.Connection, context.Transaction, sessionId, redemptionId, ct);
        }
    }
}
