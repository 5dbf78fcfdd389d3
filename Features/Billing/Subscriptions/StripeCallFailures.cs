using System.Data.Common;
using Backstop.Infrastructure.Outbox;
using Dapper;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// The compensation of a cancel or resume that Stripe refused for good: the local flag was set when the request was
/// accepted, so when its <c>stripe</c> message goes <c>dead</c> the flag is put back — only if no later cancel or
/// resume request followed (the request counter still matches), in the transaction that records the failure.
/// </summary>
internal sealed class StripeCallFailures(TimeProvider time, ILogger<StripeCallFailures> log) : IOutboxListener
{
    public async Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxStripe.Channel || result.Outcome == DeliveryOutcome.Sent) return;
        var command = message.PayloadAs<StripeCommand>();
        if (command is not { Operation: OutboxStripe.UpdateSubscription, CancelAtPeriodEnd: { } cancel }) return;
        if (!int.TryParse(message.IdempotencyKey[(message.IdempotencyKey.LastIndexOf(':') + 1)..], out var request)) return;
        var reverted = await connection.ExecuteAsync(new CommandDefinition(
            """
            update subscriptions set cancel_at_period_end = @previous, updated_at = @now
            where provider = 'stripe' and provider_subscription_id = @SubscriptionId and cancel_requests = @request and cancel_at_period_end = @cancel
            """, new { previous = !cancel, command.SubscriptionId, request, cancel, now = time.GetUtcNow() }, transaction, cancellationToken: ct));
        log.LogWarning("Stripe refused to set cancel_at_period_end={Cancel} on subscription {SubscriptionId}: {Error}; local flag {Outcome}",
            cancel, command.SubscriptionId, result.Error, reverted == 1 ? "put back" : "left (a later request followed)");
    }
}
