using System.Net;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// The plan in force (the live subscription's plan, else <c>Billing:DefaultPlan</c>) and what follows when it changes
/// by any path — a provider event, a checkout's subscription going live, a change in Stripe's portal, a reconciliation
/// repair, the end of a subscription: the organization's violations are re-measured against the new plan in the same
/// transaction (<see cref="PlanViolations"/>'s own computation: cleared when the new plan allows what is used, stored
/// when it does not, a storage grace started for a new storage violation). When the change opens violations, or ends
/// the subscription (a downgrade to the default plan), the owners get one email.
/// </summary>
/// <remarks>
/// A scheduled downgrade that takes effect is left to <see cref="DowngradeAppliedHandler"/> (it runs after the sync in
/// the same event's transaction and sends its own email); an upgrade through <c>POST /v1/billing/plan-change</c> clears
/// the violations itself.
/// </remarks>
internal sealed class PlanInForce(PlanViolations violations, BillingNotices notices, IOptions<BillingOptions> options, TimeProvider time,
    ILogger<PlanInForce> log)
{
    /// <summary>The code of the organization's plan in force, read in <paramref name="tx"/>.</summary>
    public async Task<string> CurrentAsync(DbConnection connection, DbTransaction? tx, string organizationId, CancellationToken ct)
    {
        var subscription = await BillingSql.FindSubscriptionAsync(connection, tx, organizationId, ct);
        return subscription is { Live: true } ? subscription.PlanCode : options.Value.DefaultPlan;
    }

    /// <summary>
    /// After a write that may have changed the plan in force (<paramref name="previousPlan"/> was in force before it):
    /// re-measures the violations when it did. Answers whether the plan in force changed.
    /// </summary>
    public async Task<bool> AfterWriteAsync(DbConnection connection, DbTransaction tx, string organizationId, string previousPlan, CancellationToken ct)
    {
        var subscription = await BillingSql.FindSubscriptionAsync(connection, tx, organizationId, ct);
        var live = subscription is { Live: true };
        var code = live ? subscription!.PlanCode : options.Value.DefaultPlan;
        if (code == previousPlan) return false;
        // The scheduled downgrade's own handler measures, stores and emails for this change.
        if (live && subscription!.PendingPlanCode == code) return true;
        var plan = await BillingSql.FindPlanAsync(connection, tx, code, ct);
        if (plan is null)
        {
            log.LogWarning("The plan in force of organization {OrganizationId} became {Plan}, which does not exist; violations not measured", organizationId, code);
            return true;
        }

        var now = time.GetUtcNow();
        var (from, to) = live && subscription!.CurrentPeriodStart is { } s && subscription.CurrentPeriodEnd is { } e && s <= now && now < e
            ? (s, e)
            : PlanViolations.CalendarMonth(now);
        var before = (await PlanViolations.OpenAsync(connection, tx, organizationId, ct)).Select(v => v.Metric).ToHashSet(StringComparer.Ordinal);
        var usage = await violations.UsageAsync(connection, tx, organizationId, from, to, ct);
        var findings = PlanViolations.Against(usage, plan.LimitMap(), plan.Name);
        var changeKey = $"plan-in-force:{organizationId}:{previousPlan}->{code}:{subscription?.ProviderSubscriptionId}:{subscription?.ProviderUpdatedAt?.ToUnixTimeSeconds()}";
        var open = await violations.StoreAsync(connection, tx, organizationId, code, findings, changeKey, ct);
        var opened = open.Where(v => !before.Contains(v.Metric)).ToList();
        var ended = !live;
        if (opened.Count > 0 || ended)
            await notices.ToOwnersAsync(connection, tx, organizationId, changeKey, Email(plan.Name, ended, open), subscription?.Id, ct);
        log.LogInformation("Plan in force of organization {OrganizationId}: {From} -> {To}; {Open} open violations ({Opened} new)",
            organizationId, previousPlan, code, open.Count, opened.Count);
        return true;
    }

    private static EmailContent Email(string planName, bool ended, IReadOnlyList<StoredViolation> open)
    {
        var opening = ended
            ? $"Your subscription has ended: your organization is now on the {planName} plan."
            : $"Your organization is now on the {planName} plan.";
        if (open.Count == 0)
            return new EmailContent($"Your organization is now on the {planName} plan", $"{opening} Everything you use fits the plan.",
                $"<p>{WebUtility.HtmlEncode(opening)} Everything you use fits the plan.</p>");
        var lines = open.Select(v => v.Action switch
        {
            PlanViolations.ReadOnly => $"{v.Sentence}: creating meetings is paused until the next billing period (everything stays readable).",
            PlanViolations.NotifyAdmin => $"{v.Sentence}: remove members to add new ones again.",
            _ => $"{v.Sentence}: recordings and uploads continue until {v.GraceEndsAt:yyyy-MM-dd}, then stop until you are under the limit.",
        }).ToList();
        return new EmailContent($"Your organization is now on the {planName} plan: action needed",
            opening + "\n\n" + string.Join("\n", lines.Select(l => "- " + l)),
            $"<p>{WebUtility.HtmlEncode(opening)}</p><ul>" + string.Concat(lines.Select(l => "<li>" + WebUtility.HtmlEncode(l) + "</li>")) + "</ul>");
    }
}
