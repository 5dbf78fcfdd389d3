using Backstop.Infrastructure.Inbox;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Paddle's <c>subscription.created|updated|activated|trialing|past_due|paused|resumed|canceled</c> notifications onto
/// the same local subscription as Stripe's (provider <c>paddle</c>), ordered by the notification's <c>occurred_at</c>.
/// The organization is <c>data.custom_data.organization_id</c> (pass it when opening Paddle's checkout), else the
/// owner of the Paddle customer, else the organization already holding this subscription. The plan is the one whose
/// <c>paddlePriceId</c> is the first item's price; the period is <c>current_billing_period</c>; a scheduled change
/// with action <c>cancel</c> is cancel-at-period-end.
/// </summary>
internal sealed class PaddleSubscriptionHandler(SubscriptionOwnership ownership, PlanChanges.PlanInForce planInForce, PaddleCheckoutReferences references,
    Reconciliation.Discrepancies discrepancies, Dunning.BillingNotices notices, IOptions<BillingOptions> options, BillingEvents billingEvents, TimeProvider time, ILogger<PaddleSubscriptionHandler> log) : IWebhookHandler
{
    public static readonly IReadOnlySet<string> Types = new HashSet<string>
    {
        "subscription.created", "subscription.updated", "subscription.activated", "subscription.trialing",
        "subscription.past_due", "subscription.paused", "subscription.resumed", "subscription.canceled",
    };

    public string Provider => "paddle";

    public bool Handles(string eventType) => Types.Contains(eventType);

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(context.Event.Payload);
        var root = document.RootElement;
        var occurredAt = root.Rfc3339("occurred_at") ?? throw new InvalidOperationException("The Paddle notification has no occurred_at.");
        if (root.Get("data") is not { ValueKind: JsonValueKind.Object } data) throw new InvalidOperationException("The Paddle notification has no data.");
        var (c, tx) = (context.Connection, context.Transaction);
        var subscriptionId = data.String("id") ?? throw new InvalidOperationException("The Paddle subscription has no id.");
        var customerId = data.String("customer_id");
        var existing = await BillingSql.FindByProviderIdAsync(c, tx, "paddle", subscriptionId, ct);
        var status = Status(data.String("status"));
        // custom_data comes from the browser: its organization is believed only with the server-issued reference
        // (HMAC under Paddle:CheckoutSecret) that names it, and even then what is already known wins.
        var claimed = data.String("custom_data", "organization_id");
        var verified = references.Verify(data.String("custom_data", PaddleCheckoutReferences.Field));
        var knownOwner = existing?.OrganizationId ?? await SubscriptionWrites.OrganizationOfCustomerAsync(c, tx, "paddle", customerId, ct);
        if (knownOwner is null && claimed is not null && verified != claimed)
        {
            await discrepancies.RecordAsync(c, tx, "paddle", claimed, subscriptionId, Reconciliation.DiscrepancyFields.UnsignedReference,
                null, claimed, alert: true, repaired: false, ct);
            log.LogWarning("Paddle subscription {SubscriptionId} (event {EventId}) names organization {OrganizationId} without a valid checkout reference; not applied",
                subscriptionId, context.Event.EventId, claimed);
            return;
        }
        var organizationId = await ownership.ResolveAsync(c, tx, "paddle", subscriptionId, customerId, claimed ?? verified, status ?? "", existing, ct);
        if (organizationId is null)
        {
            log.LogWarning("Paddle subscription {SubscriptionId} (event {EventId}) was not applied: no organization of this server, or refused as a discrepancy",
                subscriptionId, context.Event.EventId);
            return;
        }

        if (status is null)
        {
            log.LogWarning("Paddle subscription {SubscriptionId} has status {Status}, which Backstop does not know; ignored", subscriptionId, data.String("status"));
            return;
        }
        var priceId = data.First("items")?.String("price", "id");
        var plan = await SubscriptionWrites.PlanByPaddlePriceAsync(c, tx, priceId, ct)
                   ?? existing?.PlanCode
                   ?? throw new InvalidOperationException($"No plan has the Paddle price '{priceId}'; create the plan (paddlePriceId) and replay the event.");
        var state = new ProviderSubscriptionState
        {
            OrganizationId = organizationId,
            PlanCode = plan,
            Provider = "paddle",
            ProviderSubscriptionId = subscriptionId,
            ProviderCustomerId = customerId,
            ProviderPriceId = priceId,
            Status = status,
            CurrentPeriodStart = data.Rfc3339("current_billing_period", "starts_at"),
            CurrentPeriodEnd = data.Rfc3339("current_billing_period", "ends_at"),
            CancelAtPeriodEnd = data.String("scheduled_change", "action") == "cancel",
            CanceledAt = data.Rfc3339("canceled_at"),
            TrialEnd = data.First("items")?.Rfc3339("trial_dates", "ends_at"),
            ProviderUpdatedAt = occurredAt,
            // Paddle has no invoice-failure event of ours: the grace starts when the status enters past_due.
            StartGraceEndsAt = status == SubscriptionStatus.PastDue ? occurredAt.AddDays(options.Value.GraceDays) : null,
        };
        var now = time.GetUtcNow();
        if (customerId is not null) await SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "paddle", customerId, now, ct);
        var before = await BillingSql.FindSubscriptionAsync(c, tx, organizationId, ct);
        var previousPlan = await planInForce.CurrentAsync(c, tx, organizationId, ct);
        if (!await SubscriptionWrites.ApplyAsync(c, tx, state, now, time, ct))
            log.LogInformation("Paddle event {EventId} ({EventType}) is older than the stored state of subscription {SubscriptionId}; not applied",
                context.Event.EventId, context.Event.EventType, subscriptionId);
        else
        {
            await planInForce.AfterWriteAsync(c, tx, organizationId, previousPlan, ct);
            var after = await BillingSql.FindSubscriptionAsync(c, tx, organizationId, ct);
            var graceOpened = after?.GraceEndsAt is not null && (before?.GraceEndsAt is null || before.ProviderSubscriptionId != subscriptionId);
            if (graceOpened && after is not null)
            {
                var notice = new Dunning.StripeInvoice(context.Event.EventId, subscriptionId, subscriptionId, customerId, 1, null, null, null, null, occurredAt);
                await notices.ToOwnersAsync(c, tx, organizationId, $"paddle-dunning:{subscriptionId}:{after.GraceEndsAt!.Value.ToUnixTimeSeconds()}",
                    Dunning.DunningEmails.PaymentFailed(Dunning.DunningStage.First, notice, after.GraceEndsAt, Dunning.InvoicePaymentFailed.UpdateUrl(options.Value)),
                    after.Id, ct);
            }
        }
        await billingEvents.AfterAsync(c, tx, organizationId, before, ct);
        if (status == SubscriptionStatus.Trialing) await SubscriptionWrites.RecordTrialAsync(c, tx, organizationId, plan, now, ct);
    }

    /// <summary>Paddle's statuses are Stripe's names for the same states.</summary>
    private static string? Status(string? paddle) => paddle switch
    {
        "active" => SubscriptionStatus.Active,
        "trialing" => SubscriptionStatus.Trialing,
        "past_due" => SubscriptionStatus.PastDue,
        "paused" => SubscriptionStatus.Paused,
        "canceled" => SubscriptionStatus.Canceled,
        _ => null,
    };
}
