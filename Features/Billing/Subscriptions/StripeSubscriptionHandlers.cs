using System.Text.Json;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Outbox;
using Dapper;

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

/// <summary>
/// <c>checkout.session.completed</c> (mode <c>subscription</c>): links the customer and the new subscription to the
/// organization (<c>client_reference_id</c>, else <c>metadata.organization_id</c>). The subscription's state itself
/// comes from its own events: a row created here is <c>incomplete</c> with no provider time, so that whichever
/// <c>customer.subscription.*</c> event arrives (before or after this one) applies.
/// </summary>
internal sealed class StripeCheckoutCompletedHandler(SubscriptionOwnership ownership, TimeProvider time, ILogger<StripeCheckoutCompletedHandler> log) : IWebhookHandler
{
    public string Provider => "stripe";

    public bool Handles(string eventType) => eventType == "checkout.session.completed";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var root = document.RootElement;
        if (root.Get("data", "object") is not { ValueKind: JsonValueKind.Object } session || session.String("mode") != "subscription") return;
        var claimed = session.String("client_reference_id") ?? session.String("metadata", "organization_id");
        var customerId = session.IdOrString("customer");
        var subscriptionId = session.IdOrString("subscription");
        var plan = session.String("metadata", "plan");
        var (c, tx) = (context.Connection, context.Transaction);
        var now = time.GetUtcNow();
        await CheckoutSessions.CloseAsync(c, tx, session.String("id"), CheckoutSessions.Completed, now, ct);
        if (claimed is null || customerId is null)
        {
            log.LogWarning("Checkout session {SessionId} has no organization or customer; ignored", session.String("id"));
            return;
        }
        var organizationId = subscriptionId is null
            ? claimed
            : await ownership.ResolveAsync(c, tx, "stripe", subscriptionId, customerId, claimed, SubscriptionStatus.Incomplete,
                await BillingSql.FindByProviderIdAsync(c, tx, "stripe", subscriptionId, ct), ct);
        if (organizationId is null) return;
        await SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "stripe", customerId, now, ct);
        if (subscriptionId is null) return;
        if (!await SubscriptionWrites.PlanExistsAsync(c, tx, plan, ct))
        {
            // The subscription's own events carry its price, which names the plan.
            log.LogWarning("Checkout session {SessionId} names no known plan ({Plan}); the subscription is linked by its own events", session.String("id"), plan);
            return;
        }
        var created = root.UnixTime("created") ?? now;
        await c.ExecuteAsync(new CommandDefinition(
            """
            insert into subscriptions (id, organization_id, plan_code, provider, provider_subscription_id, provider_customer_id, status,
                                       created_at, updated_at)
            values (@id, @organizationId, @plan, 'stripe', @subscriptionId, @customerId, 'incomplete', @now, @now)
            on conflict (organization_id) do update set
                plan_code = excluded.plan_code, provider = 'stripe', provider_subscription_id = excluded.provider_subscription_id,
                provider_customer_id = excluded.provider_customer_id, provider_price_id = null, status = 'incomplete',
                current_period_start = null, current_period_end = null, cancel_at_period_end = excluded.cancel_at_period_end,
                canceled_at = null, trial_end = null, grace_ends_at = null, payment_failed_at = null, payment_retry_count = 0,
                provider_updated_at = null, updated_at = excluded.updated_at
            where (subscriptions.provider_subscription_id is null or subscriptions.provider_subscription_id <> excluded.provider_subscription_id)
              and (subscriptions.provider_updated_at is null or subscriptions.provider_updated_at <= @created)
            """, new { id = Ids.New(time), organizationId, plan, subscriptionId, customerId, now, created }, tx, cancellationToken: ct));
    }
}
