using Backstop.Infrastructure.Providers.Stripe;
using Stripe;
using Stripe.Checkout;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Channel <c>stripe-checkout</c>: expires a Checkout Session (<c>POST /v1/checkout/sessions/{id}/expire</c>), for an
/// organization deleted while a checkout was open. Idempotent by nature (a session already expired or completed
/// answers 400 and counts as done: it can no longer create a subscription; one that completed is cancelled through
/// its subscription's event, which names a deleted organization).
/// </summary>
internal sealed class StripeCheckoutChannel(StripeApi api) : IOutboxChannel
{
    public const string Channel = "stripe-checkout";

    public string Name => Channel;

    public static OutboxEnvelope Expire(string sessionId) =>
        OutboxEnvelope.Create(Channel, $"checkout-expire:{sessionId}", new ExpireCommand(sessionId), sessionId);

    internal sealed record ExpireCommand(string SessionId);

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        if (!api.Configured) return DeliveryResult.Transient("Stripe:ApiKey is not set; retried once it is.");
        var command = message.PayloadAs<ExpireCommand>();
        try
        {
            var session = await new SessionService(api.Client).ExpireAsync(command.SessionId, null, StripeApi.Idempotent(message.IdempotencyKey), ct);
            return DeliveryResult.Sent(session.Id);
        }
        catch (StripeException e) when ((int)e.HttpStatusCode is 400 or 404)
        {
            // Only an open session can be expired: one already expired, completed or unknown needs nothing more.
            return DeliveryResult.Sent(command.SessionId);
        }
        catch (Exception e) when (StripeErrors.IsStripeFailure(e, ct))
        {
            return StripeErrors.Delivery(e);
        }
    }
}
