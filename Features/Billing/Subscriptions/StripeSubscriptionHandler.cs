using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// <c>customer.subscription.created|updated|deleted|paused|resumed</c>: the organization's local subscription takes
/// Stripe's state (status, plan by the item's price, price, period from <c>items.data[0]</c>, cancel flag, trial end,
/// cancellation time) when the event is not older than what is stored (<see cref="SubscriptionWrites.ApplyAsync"/>).
/// The organization is the subscription's <c>metadata.organization_id</c> (checkout sets it), else the owner of its
/// customer, else the organization already holding this subscription; a subscription of none is logged and left alone.
/// </summary>
internal sealed class StripeSubscriptionHandler(IOutbox outbox, SubscriptionOwnership ownership, PlanChanges.PlanInForce planInForce,
    BillingEvents billingEvents, TimeProvider time, ILogger<StripeSubscriptionHandler> log) : IWebhookHandler
{
    public static readonly IReadOnlySet<string> Types = new HashSet<string>
    {
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
        "customer.subscription.paused", "customer.subscription.resumed",
    };

    public string Provider => "stripe";

    public bool Handles(string eventType) => Types.Contains(eventType);

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var root = document.RootElement;
        var created = root.UnixTime("created") ?? throw new InvalidOperationException("The Stripe event has no created time.");
        if (root.Get("data", "object") is not { ValueKind: JsonValueKind.Object } subscription)
            throw new InvalidOperationException("The Stripe event has no data.object.");
        var (c, tx) = (context.Connection, context.Transaction);
        var subscriptionId = subscription.String("id") ?? throw new InvalidOperationException("The subscription has no id.");
        var customerId = subscription.IdOrString("customer");
        var existing = await BillingSql.FindByProviderIdAsync(c, tx, "stripe", subscriptionId, ct);
        // What is known (the row of this subscription, the customer's organization) wins over the event's metadata.
        var organizationId = await ownership.ResolveAsync(c, tx, "stripe", subscriptionId, customerId, subscription.String("metadata", "organization_id"),
            subscription.String("status") ?? "", existing, ct);
        if (organizationId is null)
        {
            log.LogWarning("Stripe subscription {SubscriptionId} (event {EventId}) was not applied: no organization of this server, or refused as a discrepancy",
                subscriptionId, context.Event.EventId);
            return;
        }

        var state = await ReadAsync(c, tx, subscription, organizationId, created, existing, ct);
        var now = time.GetUtcNow();
        // Two events of one second that tie, or a transition that looks backwards (an earlier status of the same second,
        // an earlier period): the order of delivery cannot tell, Stripe can — fetch it through the outbox and apply that.
        if (existing is { ProviderUpdatedAt: { } stored } && existing.ProviderSubscriptionId == subscriptionId)
        {
            var (eventRank, storedRank) = (SubscriptionWrites.StatusRank(state.Status), SubscriptionWrites.StatusRank(existing.Status));
            var earlierPeriod = state.CurrentPeriodStart < existing.CurrentPeriodStart;
            var sameSecond = created == stored;
            if ((sameSecond && (eventRank < storedRank || (eventRank == storedRank && (earlierPeriod || state.CurrentPeriodStart == existing.CurrentPeriodStart))))
                || (created > stored && earlierPeriod))
                await outbox.EnqueueAsync(c, tx, OutboxStripe.Refresh(subscriptionId, context.Event.EventId), ct);
        }
        if (customerId is not null) await SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "stripe", customerId, now, ct);
        var previousPlan = await planInForce.CurrentAsync(c, tx, organizationId, ct);
        var before = await billingEvents.BeforeAsync(c, tx, organizationId, ct);
        if (!await SubscriptionWrites.ApplyAsync(c, tx, state, now, time, ct))
            log.LogInformation("Stripe event {EventId} ({EventType}) is older than the stored state of subscription {SubscriptionId}; not applied",
                context.Event.EventId, context.Event.EventType, subscriptionId);
        else
            await planInForce.AfterWriteAsync(c, tx, organizationId, previousPlan, ct);
        await billingEvents.AfterAsync(c, tx, organizationId, before, ct);
        if (state.Status == SubscriptionStatus.Trialing || state.TrialEnd is not null)
            await SubscriptionWrites.RecordTrialAsync(c, tx, organizationId, state.PlanCode, now, ct);
    }

    /// <summary>
    /// Stripe's subscription object as local state. The plan is the one whose Stripe price is the first item's;
    /// failing that the plan checkout put in the metadata, failing that the plan already stored. A subscription whose
    /// price no plan has fails the event (retried, then dead) rather than guessing: the operator adds the plan and replays.
    /// </summary>
    internal static async Task<ProviderSubscriptionState> ReadAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction? tx,
        JsonElement subscription, string organizationId, DateTimeOffset observedAt, SubscriptionRow? existing, CancellationToken ct)
    {
        var item = subscription.First("items", "data");
        var priceId = item?.IdOrString("price");
        var metadataPlan = subscription.String("metadata", "plan");
        var plan = await SubscriptionWrites.PlanByStripePriceAsync(c, tx, priceId, ct)
                   ?? (await SubscriptionWrites.PlanExistsAsync(c, tx, metadataPlan, ct) ? metadataPlan : null)
                   ?? existing?.PlanCode
                   ?? throw new InvalidOperationException($"No plan has the Stripe price '{priceId}'; create the plan (stripePriceId) and replay the event.");
        return new ProviderSubscriptionState
        {
            OrganizationId = organizationId,
            PlanCode = plan,
            Provider = "stripe",
            ProviderSubscriptionId = subscription.String("id")!,
            ProviderCustomerId = subscription.IdOrString("customer"),
            ProviderPriceId = priceId,
            Status = subscription.String("status") ?? throw new InvalidOperationException("The subscription has no status."),
            CurrentPeriodStart = item?.UnixTime("current_period_start"),
            CurrentPeriodEnd = item?.UnixTime("current_period_end"),
            CancelAtPeriodEnd = subscription.Bool("cancel_at_period_end"),
            CanceledAt = subscription.UnixTime("canceled_at"),
            TrialEnd = subscription.UnixTime("trial_end"),
            ProviderUpdatedAt = observedAt,
            CollectionPaused = subscription.Get("pause_collection") is { ValueKind: JsonValueKind.Object },
        };
    }
}
