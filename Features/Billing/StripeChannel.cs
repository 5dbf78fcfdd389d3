using Backstop.Features.Billing.Subscriptions;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Providers.Stripe;
using Dapper;
using Stripe;

namespace Backstop.Features.Billing;

/// <summary>What the <c>stripe</c> channel stores: one Stripe mutation and its parameters.</summary>
/// <param name="Operation"><see cref="OutboxStripe.UpdateSubscription"/>, <see cref="OutboxStripe.CancelSubscription"/>, <see cref="OutboxStripe.ReleaseSchedule"/> or <see cref="OutboxStripe.RefreshSubscription"/>.</param>
/// <param name="CancelAtPeriodEnd">For <see cref="OutboxStripe.UpdateSubscription"/>: <c>cancel_at_period_end</c>.</param>
/// <param name="ScheduleId">For <see cref="OutboxStripe.ReleaseSchedule"/>: the schedule to release.</param>
internal sealed record StripeCommand(string Operation, string SubscriptionId, bool? CancelAtPeriodEnd = null, string? ScheduleId = null);

/// <summary>
/// Stripe mutations that follow a local commit, each idempotent by nature (setting a flag, cancelling, releasing).
/// The first attempt sends the message's key, derived from the operation; a later attempt sends
/// <c>{key}:r{n}</c> (n = attempts before it), because Stripe stores the first result of a key — a 500 included — and
/// replays it for 24 hours, so a retry under the same key could never succeed. The channel mutates provider state:
/// the outbox never gives its messages up by attempt count (<see cref="IOutboxChannel.MutatesProviderState"/>).
/// </summary>
internal static class OutboxStripe
{
    public const string Channel = "stripe";

    /// <summary><c>POST /v1/subscriptions/{id}</c>.</summary>
    public const string UpdateSubscription = "subscription.update";

    /// <summary><c>DELETE /v1/subscriptions/{id}</c>: cancels at once.</summary>
    public const string CancelSubscription = "subscription.cancel";

    /// <summary><c>POST /v1/subscription_schedules/{id}/release</c>: the subscription stays as it is, free of the schedule.</summary>
    public const string ReleaseSchedule = "schedule.release";

    /// <summary>
    /// Cancel at period end (or undo it). <paramref name="request"/> is the subscription's request counter after this
    /// request: cancel, resume and cancel again are three operations with three keys, a retry of one derives its key
    /// from this one. A message overtaken by a later request of the same subscription is not sent. Cancelled with the
    /// organization's other pending messages if the organization is deleted first.
    /// </summary>
    public static OutboxEnvelope SetCancelAtPeriodEnd(string organizationId, string subscriptionId, bool cancel, int request) =>
        OutboxEnvelope.Create(Channel, $"{(cancel ? "cancel" : "resume")}:{subscriptionId}:{request}",
            new StripeCommand(UpdateSubscription, subscriptionId, cancel), subscriptionId) with { OrganizationId = organizationId };

    /// <summary>The immediate cancellation of a deleted organization's subscription (never cancelled itself).</summary>
    public static OutboxEnvelope CancelForDeletedOrganization(string subscriptionId) =>
        OutboxEnvelope.Create(Channel, $"delete-org-cancel:{subscriptionId}", new StripeCommand(CancelSubscription, subscriptionId), subscriptionId);

    /// <summary>The release of a schedule whose downgrade has applied (a schedule stays attached until its last phase ends).</summary>
    public static OutboxEnvelope Release(string subscriptionId, string scheduleId) =>
        OutboxEnvelope.Create(Channel, $"schedule-release:{scheduleId}", new StripeCommand(ReleaseSchedule, subscriptionId, ScheduleId: scheduleId), subscriptionId);

    /// <summary><c>GET /v1/subscriptions/{id}</c>, then its state applied locally: settles two events of one second that tie or look backwards.</summary>
    public const string RefreshSubscription = "subscription.refresh";

    /// <summary>Fetch the subscription from Stripe and apply what it says (one per event that asked for it).</summary>
    public static OutboxEnvelope Refresh(string subscriptionId, string eventId) =>
        OutboxEnvelope.Create(Channel, $"subscription-refresh:{subscriptionId}:{eventId}", new StripeCommand(RefreshSubscription, subscriptionId), subscriptionId);

    /// <summary>The idempotency key of attempt <paramref name="attempt"/> (1-based) of a message keyed <paramref name="key"/>.</summary>
    public static string AttemptKey(string key, int attempt) => attempt <= 1 ? key : $"{key}:r{attempt - 1}";
}

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
