using System.Net;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Providers.Paddle;

namespace Backstop.Features.Billing;

/// <summary>What the <c>paddle</c> channel stores: one Paddle mutation.</summary>
/// <param name="Operation"><see cref="OutboxPaddle.CancelSubscription"/>.</param>
internal sealed record PaddleCommand(string Operation, string SubscriptionId);

/// <summary>
/// Channel <c>paddle</c>: Paddle calls that follow a local commit. Paddle takes no idempotency key; the cancel is
/// idempotent by nature (a subscription already canceled answers 400 <c>subscription_is_canceled_action_invalid</c>,
/// which is done). 429, 5xx, the network and a missing <c>Paddle:ApiKey</c> are transient: the channel mutates provider
/// state, so the outbox retries them for as long as it takes (<see cref="IOutboxChannel.MutatesProviderState"/>); any
/// other 4xx is permanent, and <see cref="PaddleCallFailures"/> alerts.
/// </summary>
internal sealed class PaddleChannel(PaddleClient paddle) : IOutboxChannel
{
    public string Name => OutboxPaddle.Channel;

    public bool MutatesProviderState => true;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var command = message.PayloadAs<PaddleCommand>();
        if (command.Operation != OutboxPaddle.CancelSubscription) return DeliveryResult.Permanent($"Unknown Paddle operation '{command.Operation}'.");
        var result = await paddle.CancelSubscriptionNowAsync(command.SubscriptionId, ct);
        if (result.Ok) return DeliveryResult.Sent(result.AlreadyCanceled ? $"{command.SubscriptionId} (already canceled)" : command.SubscriptionId);
        var failure = result.Failure!;
        return failure.Transient ? DeliveryResult.Transient(failure.Message, failure.RetryAfter) : DeliveryResult.Permanent(failure.Message);
    }
}
