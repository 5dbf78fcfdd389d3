using System.Net;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing;

/// <summary>What the <c>stripe</c> channel stores: one Stripe mutation and its parameters.</summary>
/// <param name="Operation"><see cref="OutboxStripe.UpdateSubscription"/> or <see cref="OutboxStripe.CancelSubscription"/>.</param>
/// <param name="CancelAtPeriodEnd">For <see cref="OutboxStripe.UpdateSubscription"/>: <c>cancel_at_period_end</c>.</param>
internal sealed record StripeCommand(string Operation, string SubscriptionId, bool? CancelAtPeriodEnd = null);

/// <summary>
/// Stripe mutations that follow a local commit. Each message's idempotency key is derived from the operation and is
/// the <c>Idempotency-Key</c> of every attempt, so Stripe applies the mutation once however often it is retried.
/// </summary>
internal static class OutboxStripe
{
    public const string Channel = "stripe";

    /// <summary><c>POST /v1/subscriptions/{id}</c>.</summary>
    public const string UpdateSubscription = "subscription.update";

    /// <summary><c>DELETE /v1/subscriptions/{id}</c>: cancels at once.</summary>
    public const string CancelSubscription = "subscription.cancel";

    /// <summary>
    /// Cancel at period end (or undo it). <paramref name="request"/> is the subscription's request counter after this
    /// request: cancel, resume and cancel again are three operations with three keys, a retry of one repeats its key.
    /// Cancelled with the organization's other pending messages if the organization is deleted first.
    /// </summary>
    public static OutboxEnvelope SetCancelAtPeriodEnd(string organizationId, string subscriptionId, bool cancel, int request) =>
        OutboxEnvelope.Create(Channel, $"{(cancel ? "cancel" : "resume")}:{subscriptionId}:{request}",
            new StripeCommand(UpdateSubscription, subscriptionId, cancel), subscriptionId) with { OrganizationId = organizationId };

    /// <summary>The immediate cancellation of a deleted organization's subscription (never cancelled itself).</summary>
    public static OutboxEnvelope CancelForDeletedOrganization(string subscriptionId) =>
        OutboxEnvelope.Create(Channel, $"delete-org-cancel:{subscriptionId}", new StripeCommand(CancelSubscription, subscriptionId), subscriptionId);
}

internal sealed class StripeChannel(StripeApi api) : IOutboxChannel
{
    public string Name => OutboxStripe.Channel;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        if (!api.Configured) return DeliveryResult.Transient("Stripe:ApiKey is not set; retried once it is.");
        var command = message.PayloadAs<StripeCommand>();
        var options = StripeApi.Idempotent(message.IdempotencyKey);
        try
        {
            switch (command.Operation)
            {
                case OutboxStripe.UpdateSubscription when command.CancelAtPeriodEnd is { } cancel:
                    var updated = await new SubscriptionService(api.Client).UpdateAsync(command.SubscriptionId,
                        new SubscriptionUpdateOptions { CancelAtPeriodEnd = cancel }, options, ct);
                    return DeliveryResult.Sent(updated.Id);
                case OutboxStripe.CancelSubscription:
                    var canceled = await new SubscriptionService(api.Client).CancelAsync(command.SubscriptionId, new SubscriptionCancelOptions(), options, ct);
                    return DeliveryResult.Sent(canceled.Id);
                default:
                    return DeliveryResult.Permanent($"Unknown Stripe operation '{command.Operation}'.");
            }
        }
        catch (StripeException e)
        {
            var status = (int)e.HttpStatusCode;
            var error = $"Stripe answered {status}: {e.StripeError?.Message ?? e.Message}";
            // Cancelling what Stripe no longer has is done.
            if (command.Operation == OutboxStripe.CancelSubscription && e.StripeError?.Code == "resource_missing")
                return DeliveryResult.Sent(command.SubscriptionId);
            // 409: a concurrent request with the same key is in flight; 429: rate limited. Other 4xx never succeed.
            return status is >= 400 and < 500 and not (int)HttpStatusCode.Conflict and not (int)HttpStatusCode.TooManyRequests
                ? DeliveryResult.Permanent(error)
                : DeliveryResult.Transient(error);
        }
    }
}
