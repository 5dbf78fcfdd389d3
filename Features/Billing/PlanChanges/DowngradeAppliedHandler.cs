using System.Net;
using Backstop.Features.ApiKeys;
using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// A scheduled downgrade takes effect: Stripe's <c>customer.subscription.updated</c> whose item price is now the
/// pending plan's price. The local plan becomes the pending one, the pending change is cleared, the violations of the
/// new plan are stored, the owners get one email and the schedule's release is enqueued — all in the event's transaction.
/// </summary>
/// <remarks>
/// Runs after the billing slice's subscription sync (order 100), and is correct whether or not that sync already set
/// <c>plan_code</c>: what decides is clearing the pending change, one conditional update (<c>pending_plan_code =
/// @pending</c>), so a second delivery of the event (or another update event after it) finds nothing pending and does
/// nothing; the email's outbox key (subscription + plan + the change's time) makes it once per change anyway.
/// Meetings are counted in the new period the event carries (the items' <c>current_period_start/end</c>).
/// </remarks>
internal sealed class DowngradeAppliedHandler(PlanViolations violations, IOrganizationDirectory directory, IOutbox outbox, CouponRedemptions coupons,
    TimeProvider time, ILogger<DowngradeAppliedHandler> log) : IWebhookHandler
{
    public string Provider => "stripe";

    public int Order => 100;

    public bool Handles(string eventType) => eventType == "customer.subscription.updated";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx) = (context.Connection, context.Transaction);
        if (Read(context.Event.Payload) is not { } update) return;
        var subscription = await BillingSql.FindByProviderIdAsync(connection, tx, "stripe", update.SubscriptionId, ct);
        if (subscription?.PendingPlanCode is not { } pendingCode) return;
        var pending = await BillingSql.FindPlanAsync(connection, tx, pendingCode, ct);
        if (pending is null || pending.StripePriceId != update.PriceId) return;

        var now = time.GetUtcNow();
        var scheduleId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select pending_schedule_id from subscriptions where id = @Id", new { subscription.Id }, tx, cancellationToken: ct));
        var applied = await connection.ExecuteAsync(new CommandDefinition(
            """
            update subscriptions set plan_code = @pendingCode, provider_price_id = @PriceId,
                   pending_plan_code = null, pending_change_at = null, pending_schedule_id = null, updated_at = @now
            where id = @Id and pending_plan_code = @pendingCode
            """, new { pendingCode, update.PriceId, now, subscription.Id }, tx, cancellationToken: ct));
        if (applied == 0) return;
        // A schedule stays attached until its last phase ends, and Stripe refuses a direct cancel (or an upgrade) while
        // it is: the downgrade has applied, so the schedule is released (through the outbox, retried until Stripe confirms).
        if (scheduleId is not null) await outbox.EnqueueAsync(connection, tx, OutboxStripe.Release(update.SubscriptionId, scheduleId), ct);

        var changeKey = $"plan-downgrade:{update.SubscriptionId}:{pendingCode}:{(subscription.PendingChangeAt ?? now).ToUnixTimeSeconds()}";
        var (from, to) = update.PeriodStart is { } s && update.PeriodEnd is { } e ? (s, e)
            : subscription.CurrentPeriodStart is { } ls && subscription.CurrentPeriodEnd is { } le ? (ls, le)
            : PlanViolations.CalendarMonth(now);
        var usage = await violations.UsageAsync(connection, tx, subscription.OrganizationId, from, to, ct);
        var findings = PlanViolations.Against(usage, pending.LimitMap(), pending.Name);
        var open = await violations.StoreAsync(connection, tx, subscription.OrganizationId, pendingCode, findings, changeKey, ct);
        await coupons.ConfirmByReferenceAsync(connection, tx, subscription.OrganizationId, $"plan-change:{subscription.Id}:{pendingCode}", ct);

        var content = Email(pending.Name, open);
        foreach (var recipient in await directory.NotificationEmailsAsync(connection, tx, subscription.OrganizationId, null, ct))
            await outbox.EnqueueAsync(connection, tx, OutboxEmail.Create($"{changeKey}:{recipient}", recipient, content, subscription.Id), ct);
        log.LogInformation("Downgrade of organization {OrganizationId} to {Plan} took effect with {Count} plan violations",
            subscription.OrganizationId, pendingCode, open.Count);
    }

    private static EmailContent Email(string planName, IReadOnlyList<StoredViolation> open)
    {
        if (open.Count == 0)
            return new EmailContent($"Your organization is now on the {planName} plan",
                $"Your scheduled change to the {planName} plan has taken effect. Everything you use fits the new plan.",
                $"<p>Your scheduled change to the {WebUtility.HtmlEncode(planName)} plan has taken effect. Everything you use fits the new plan.</p>");
        var lines = open.Select(v => v.Action switch
        {
            PlanViolations.ReadOnly => $"{v.Sentence}: creating meetings is paused until the next billing period (everything stays readable).",
            PlanViolations.NotifyAdmin => $"{v.Sentence}: remove members to add new ones again.",
            _ => $"{v.Sentence}: recordings and uploads continue until {v.GraceEndsAt:yyyy-MM-dd}, then stop until you are under the limit.",
        }).ToList();
        return new EmailContent($"Your organization is now on the {planName} plan: action needed",
            $"Your scheduled change to the {planName} plan has taken effect.\n\n" + string.Join("\n", lines.Select(l => "- " + l)),
            $"<p>Your scheduled change to the {WebUtility.HtmlEncode(planName)} plan has taken effect.</p><ul>"
            + string.Concat(lines.Select(l => "<li>" + WebUtility.HtmlEncode(l) + "</li>")) + "</ul>");
    }

    private sealed record SubscriptionUpdate(string SubscriptionId, string? PriceId, DateTimeOffset? PeriodStart, DateTimeOffset? PeriodEnd);

    /// <summary>The subscription id, its first item's price and period, read defensively (API versions move fields).</summary>
    private static SubscriptionUpdate? Read(string payload)
    {
        using var document = JsonDocument.Parse(payload);
        if (!document.RootElement.TryGetProperty("data", out var data) || !data.TryGetProperty("object", out var sub)
            || !sub.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String)
            return null;
        string? price = null;
        DateTimeOffset? start = null, end = null;
        if (sub.TryGetProperty("items", out var items) && items.TryGetProperty("data", out var list) && list.ValueKind == JsonValueKind.Array
            && list.GetArrayLength() > 0)
        {
            var item = list[0];
            if (item.TryGetProperty("price", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("id", out var pid)) price = pid.GetString();
            start = Unix(item, "current_period_start");
            end = Unix(item, "current_period_end");
        }
        return new SubscriptionUpdate(id.GetString()!, price, start, end);
    }

    private static DateTimeOffset? Unix(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var s) ? DateTimeOffset.FromUnixTimeSeconds(s) : null;
}
