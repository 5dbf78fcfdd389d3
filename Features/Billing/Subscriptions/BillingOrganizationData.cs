using Backstop.Features.ApiKeys;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// What of a deleted organization's billing could still charge or attach it (<see cref="IOrganizationDataReport"/>):
/// a subscription not yet ended locally and a checkout session still open. <see cref="OrganizationDeletion"/> ends
/// both in the deletion's transaction (the Stripe calls follow through the outbox), so both read 0 once it committed.
/// <c>refused_provider_cancellations</c> counts its subscription's cancellations (Stripe or Paddle) the provider refused
/// for good (dead, alerted): the deletion cannot complete by itself, the operator must act (cancel it at the provider,
/// or fix the cause and retry the message). One still being retried is in progress and alerted after an hour.
/// </summary>
internal sealed class BillingOrganizationData(Db db) : IOrganizationDataReport
{
    public async Task<IReadOnlyDictionary<string, long>> RemainingAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var counts = await connection.QuerySingleAsync<(long Subscriptions, long Checkouts, long Cancellations)>(new CommandDefinition(
            """
            select (select count(*) from subscriptions where organization_id = @organizationId and status not in ('canceled', 'incomplete_expired')),
                   (select count(*) from billing_checkouts where organization_id = @organizationId and status in ('creating', 'open')),
                   (select count(*) from outbox_messages o join subscriptions s on o.reference = s.provider_subscription_id
                    where s.organization_id = @organizationId and o.status = 'dead'
                      and ((o.channel = 'stripe' and o.idempotency_key = 'delete-org-cancel:' || s.provider_subscription_id)
                        or (o.channel = 'paddle' and o.idempotency_key = 'paddle-delete-org-cancel:' || s.provider_subscription_id)))
            """, new { organizationId }, cancellationToken: ct));
        return new Dictionary<string, long>
        {
            ["live_subscriptions"] = counts.Subscriptions, ["open_checkout_sessions"] = counts.Checkouts,
            ["refused_provider_cancellations"] = counts.Cancellations,
        };
    }
}
