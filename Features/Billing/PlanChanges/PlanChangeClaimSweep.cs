using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Providers.Stripe;
using Stripe;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// Every 5 minutes: a downgrade claim (<c>pending_plan_code</c> set, no <c>pending_schedule_id</c>) older than
/// <see cref="StuckAfter"/> belongs to a request that died between the claim and recording its schedule (a crash, a
/// non-Stripe exception). Stripe decides what it becomes: a schedule attached whose phases move to the pending plan's
/// price is recorded (the downgrade stands); any other attached schedule is released and, like no schedule at all,
/// the claim and its coupon hold are given back. Stripe unreachable: the claim waits for the next run.
/// </summary>
/// <remarks>Claims in batches of 100, oldest first; one claim's failure is logged and the sweep goes on.</remarks>
internal sealed class PlanChangeClaimSweep(Db db, StripeApi stripe, CouponRedemptions coupons, IAuditLog audit, TimeProvider time, JobContext context,
    ILogger<PlanChangeClaimSweep> log, BillingEvents billingEvents) : IRecurringJob, IReportsCounts
{
    public static readonly TimeSpan StuckAfter = TimeSpan.FromMinutes(15);
    private const int BatchSize = 100;
    private readonly Dictionary<string, long> counts = new() { ["recorded"] = 0, ["given_back"] = 0, ["failed"] = 0 };

    public static string Id => "billing-plan-change-sweep";
    public static string DefaultCron => "*/5 * * * *";

    public IReadOnlyDictionary<string, long> Counts => counts;

    private sealed record Claim(string Id, string OrganizationId, string ProviderSubscriptionId, string PendingPlanCode, string? StripePriceId);

    public async Task<long> RunAsync(CancellationToken ct)
    {
        if (!stripe.Configured) return 0;
        List<Claim> claims;
        await using (var connection = await db.OpenAsync(ct))
            claims = (await connection.QueryAsync<Claim>(new CommandDefinition(
                """
                select s.id, s.organization_id, s.provider_subscription_id, s.pending_plan_code, p.stripe_price_id
                from subscriptions s left join plans p on p.code = s.pending_plan_code
                where s.pending_plan_code is not null and s.pending_schedule_id is null and s.provider = 'stripe'
                  and s.provider_subscription_id is not null and s.updated_at <= @before
                order by s.updated_at
                limit @BatchSize
                """, new { before = time.GetUtcNow() - StuckAfter, BatchSize }, cancellationToken: ct))).AsList();
        foreach (var claim in claims)
        {
            if (context.Stop.IsCancellationRequested) break;
            try
            {
                await ResolveAsync(claim, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                counts["failed"]++;
                log.LogError(e, "Could not resolve the stuck plan-change claim of subscription {SubscriptionId}; the next run tries again", claim.ProviderSubscriptionId);
            }
        }
        return counts["recorded"] + counts["given_back"];
    }

    private async Task ResolveAsync(Claim claim, CancellationToken ct)
    {
        var remote = await new SubscriptionService(stripe.Client).GetAsync(claim.ProviderSubscriptionId, null, null, ct);
        if (remote.ScheduleId is { } scheduleId)
        {
            var schedule = await new SubscriptionScheduleService(stripe.Client).GetAsync(scheduleId, null, null, ct);
            var downgrade = schedule.Phases.FirstOrDefault(p => p.Items.Any(i => i.PriceId == claim.StripePriceId) && p.StartDate > time.GetUtcNow().UtcDateTime);
            if (downgrade is not null)
            {
                var effectiveAt = new DateTimeOffset(DateTime.SpecifyKind(downgrade.StartDate, DateTimeKind.Utc));
                var recorded = await db.InTransactionAsync(async (connection, tx) =>
                {
                    var updated = await connection.ExecuteAsync(new CommandDefinition(
                        """
                        update subscriptions set pending_schedule_id = @scheduleId, pending_change_at = @effectiveAt, updated_at = @now
                        where id = @Id and pending_plan_code = @PendingPlanCode and pending_schedule_id is null
                        """, new { scheduleId, effectiveAt, now = time.GetUtcNow(), claim.Id, claim.PendingPlanCode }, tx, cancellationToken: ct));
                    if (updated > 0)
                        await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionDowngradeSchedule, "subscription", claim.Id, claim.OrganizationId,
                            new { plan = new { to = claim.PendingPlanCode }, effectiveAt, scheduleId, resolvedBy = Id }, Actor: "job:" + Id), ct);
                    if (updated > 0)
                        await billingEvents.SubscriptionAsync(connection, tx, Backstop.Infrastructure.Events.EventTypes.SubscriptionDowngradeScheduled, claim.OrganizationId, ct);
                    return updated;
                }, ct);
                counts["recorded"] += recorded;
                log.LogWarning("Stuck downgrade claim of subscription {SubscriptionId} resolved from Stripe: schedule {ScheduleId} recorded", claim.ProviderSubscriptionId, scheduleId);
                return;
            }
            // A schedule this claim did not finish: it must not change the subscription later.
            await new SubscriptionScheduleService(stripe.Client).ReleaseAsync(scheduleId, new SubscriptionScheduleReleaseOptions(),
                StripeApi.Idempotent($"plan-change-release:{scheduleId}"), ct);
        }
        var givenBack = await db.InTransactionAsync(async (connection, tx) =>
        {
            var updated = await connection.ExecuteAsync(new CommandDefinition(
                """
                update subscriptions set pending_plan_code = null, pending_change_at = null, updated_at = @now
                where id = @Id and pending_plan_code = @PendingPlanCode and pending_schedule_id is null
                """, new { now = time.GetUtcNow(), claim.Id, claim.PendingPlanCode }, tx, cancellationToken: ct));
            if (updated == 0) return 0;
            await coupons.ReleaseByReferenceAsync(connection, tx, claim.OrganizationId, $"plan-change:{claim.Id}:{claim.PendingPlanCode}", ct);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.SubscriptionPlanChangeCancel, "subscription", claim.Id, claim.OrganizationId,
                new { pendingPlan = claim.PendingPlanCode, reason = "claim older than 15 minutes with no schedule at Stripe" }, Actor: "job:" + Id), ct);
            return updated;
        }, ct);
        counts["given_back"] += givenBack;
        log.LogWarning("Stuck downgrade claim of subscription {SubscriptionId} given back: Stripe has no schedule for it", claim.ProviderSubscriptionId);
    }
}
