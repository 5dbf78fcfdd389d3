using Backstop.Features.Billing.Subscriptions;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing;

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
