using System.Text.Json;
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
internal sealed class PaddleSubscriptionHandler(TimeProvider time, ILogger<PaddleSubscriptionHandler> log) : IWebhookHandler
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
        var organizationId = data.String("custom_data", "organization_id")
                             ?? await SubscriptionWrites.OrganizationOfCustomerAsync(c, tx, "paddle", customerId, ct)
                             ?? existing?.OrganizationId;
        if (organizationId is null)
        {
            log.LogWarning("Paddle subscription {SubscriptionId} (event {EventId}) has no custom_data.organization_id and no known customer; ignored",
                subscriptionId, context.Event.EventId);
            return;
        }

        var status = Status(data.String("status"));
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
        };
        var now = time.GetUtcNow();
        if (customerId is not null) await SubscriptionWrites.LinkCustomerAsync(c, tx, organizationId, "paddle", customerId, now, ct);
        if (!await SubscriptionWrites.ApplyAsync(c, tx, state, now, time, ct))
            log.LogInformation("Paddle event {EventId} ({EventType}) is older than the stored state of subscription {SubscriptionId}; not applied",
                context.Event.EventId, context.Event.EventType, subscriptionId);
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
