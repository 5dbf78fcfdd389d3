using System.Net;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Providers.Paddle;

namespace Backstop.Features.Billing;

internal static class OutboxPaddle
{
    public const string Channel = "paddle";

    /// <summary><c>POST /subscriptions/{id}/cancel</c> with <c>effective_from = immediately</c>.</summary>
    public const string CancelSubscription = "subscription.cancel";

    /// <summary>
    /// The immediate cancellation of a deleted organization's Paddle subscription, keyed by the subscription (a
    /// repeated deletion or enqueue stores it once). Not tagged with the organization: the deletion's own cancellation of
    /// its pending messages never cancels it.
    /// </summary>
    public static OutboxEnvelope CancelForDeletedOrganization(string subscriptionId) =>
        OutboxEnvelope.Create(Channel, $"paddle-delete-org-cancel:{subscriptionId}", new PaddleCommand(CancelSubscription, subscriptionId), subscriptionId);
}
