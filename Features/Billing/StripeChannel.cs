using Backstop.Features.Billing.Subscriptions;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing;

/// <summary>What the <c>stripe</c> channel stores: one Stripe mutation and its parameters.</summary>
/// <param name="Operation"><see cref="OutboxStripe.UpdateSubscription"/>, <see cref="OutboxStripe.CancelSubscription"/>, <see cref="OutboxStripe.ReleaseSchedule"/> or <see cref="OutboxStripe.RefreshSubscription"/>.</param>
/// <param name="CancelAtPeriodEnd">For <see cref="OutboxStripe.UpdateSubscription"/>: <c>cancel_at_period_end</c>.</param>
/// <param name="ScheduleId">For <see cref="OutboxStripe.ReleaseSchedule"/>: the schedule to release.</param>
internal sealed record StripeCommand(string Operation, string SubscriptionId, bool? CancelAtPeriodEnd = null, string? ScheduleId = null);

internal sealed class StripeChannel(StripeApi api, Db db, BillingEvents billingEvents, TimeProvider time, ILogger<StripeChannel> log) : IOutboxChannel
{
    public string Name => OutboxStripe.Channel;

    public bool MutatesProviderState => true;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        if (!api.Configured) return DeliveryResult.Transient("Stripe:ApiKey is not set; retried once it is.");
        var command = message.PayloadAs<StripeCommand>();
        var key = OutboxStripe.AttemptKey(message.IdempotencyKey, message.Attempts);
        var subscriptions = new SubscriptionService(api.Client);
        try
        {
            switch (command.Operation)
            {
                case OutboxStripe.UpdateSubscription when command.CancelAtPeriodEnd is { } cancel:
                    if (await SupersededAsync(message, command, ct))
                        return DeliveryResult.Sent(command.SubscriptionId);
                    var current = await subscriptions.GetAsync(command.SubscriptionId, null, null, ct);
                    if (current.Status is SubscriptionStatus.Canceled or SubscriptionStatus.IncompleteExpired && cancel)
                        return DeliveryResult.Sent(current.Id);
                    // Stripe refuses cancel_at_period_end on a subscription a schedule manages: free it first (a pending
                    // downgrade is dropped with it — the subscription ends at period end anyway).
                    if (current.ScheduleId is { } scheduleId)
                        await ReleaseAsync(scheduleId, key + ":release", ct);
                    var updated = await subscriptions.UpdateAsync(command.SubscriptionId,
                        new SubscriptionUpdateOptions { CancelAtPeriodEnd = cancel }, StripeApi.Idempotent(key), ct);
                    return DeliveryResult.Sent(updated.Id);
                case OutboxStripe.CancelSubscription:
                    var canceled = await subscriptions.CancelAsync(command.SubscriptionId, new SubscriptionCancelOptions(), StripeApi.Idempotent(key), ct);
                    return DeliveryResult.Sent(canceled.Id);
                case OutboxStripe.RefreshSubscription:
                    var fetched = await subscriptions.GetAsync(command.SubscriptionId, null, null, ct);
                    await ApplyFetchedAsync(fetched, ct);
                    return DeliveryResult.Sent(fetched.Id);
                case OutboxStripe.ReleaseSchedule when command.ScheduleId is { } schedule:
                    await ReleaseAsync(schedule, key, ct);
                    return DeliveryResult.Sent(schedule);
                default:
                    return DeliveryResult.Permanent($"Unknown Stripe operation '{command.Operation}'.");
            }
        }
        catch (Exception e) when (StripeErrors.IsStripeFailure(e, ct))
        {
            // Cancelling what Stripe no longer has is done.
            if (command.Operation == OutboxStripe.CancelSubscription && e is StripeException { StripeError.Code: "resource_missing" })
                return DeliveryResult.Sent(command.SubscriptionId);
            return StripeErrors.Delivery(e);
        }
    }

    /// <summary>Stripe's current state of the subscription, applied over whatever events left (it is newer than all of them).</summary>
    private async Task ApplyFetchedAsync(Subscription fetched, CancellationToken ct)
    {
        using var document = System.Text.Json.JsonDocument.Parse(fetched.StripeResponse.Content);
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var existing = await BillingSql.FindByProviderIdAsync(connection, tx, "stripe", fetched.Id, ct);
            if (existing is null) return;
            var now = time.GetUtcNow();
            var observedAt = existing.ProviderUpdatedAt is { } stored && stored > now ? stored : now;
            var state = await StripeSubscriptionHandler.ReadAsync(connection, tx, document.RootElement, existing.OrganizationId, observedAt, existing, ct);
            await SubscriptionWrites.ApplyAsync(connection, tx, state, now, time, ct, force: true);
            await billingEvents.AfterAsync(connection, tx, existing, ct);
            log.LogInformation("Subscription {SubscriptionId} refreshed from Stripe: {Status}", fetched.Id, state.Status);
        }, ct);
    }

    /// <summary>Releases a schedule; one Stripe already released, completed or cancelled is done.</summary>
    private async Task ReleaseAsync(string scheduleId, string key, CancellationToken ct)
    {
        var schedules = new SubscriptionScheduleService(api.Client);
        try
        {
            await schedules.ReleaseAsync(scheduleId, new SubscriptionScheduleReleaseOptions(), StripeApi.Idempotent(key), ct);
        }
        catch (StripeException e) when ((int)e.HttpStatusCode is 400 or 404)
        {
            var schedule = await schedules.GetAsync(scheduleId, null, null, ct);
            if (schedule.Status is "active" or "not_started") throw;
            log.LogInformation("Stripe schedule {ScheduleId} is already {Status}; nothing to release", scheduleId, schedule.Status);
        }
    }

    /// <summary>A later cancel or resume request of the same subscription was made: this one must not override it.</summary>
    private async Task<bool> SupersededAsync(OutboxMessage message, StripeCommand command, CancellationToken ct)
    {
        if (!int.TryParse(message.IdempotencyKey[(message.IdempotencyKey.LastIndexOf(':') + 1)..], out var request)) return false;
        await using var connection = await db.OpenAsync(ct);
        var latest = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "select cancel_requests from subscriptions where provider = 'stripe' and provider_subscription_id = @SubscriptionId",
            new { command.SubscriptionId }, cancellationToken: ct));
        if (latest is null || latest <= request) return false;
        log.LogInformation("Stripe call {Key} is superseded by request {Latest} of subscription {SubscriptionId}; not sent", message.IdempotencyKey, latest, command.SubscriptionId);
        return true;
    }
}
