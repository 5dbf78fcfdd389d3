using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Providers.Stripe;

namespace Backstop.Features.Billing.Dunning;

internal static class OutboxDisputeLookup
{
    public const string Channel = "billing-dispute-lookup";

    /// <summary>One lookup per dispute, however many of its events arrive before it is done.</summary>
    public static OutboxEnvelope Create(string disputeId, string chargeId) =>
        OutboxEnvelope.Create(Channel, $"dispute-lookup:{disputeId}", new DisputeLookup(disputeId, chargeId), disputeId);
}
