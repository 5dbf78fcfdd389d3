using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Billing.Coupons;

/// <summary>
/// Daily: every coupon's <c>times_redeemed</c> compared with its held + redeemed redemption rows; a drift (a manual
/// edit, a restore, a bug) is repaired to the row count, logged as a warning and audited.
/// </summary>
/// <remarks>
/// The repair is conditional on the stored count still being the one read: a redemption committing between the
/// read and the repair changes both sides, and that coupon is left for the next run rather than overwritten.
/// One grouped query finds every drift (coupons are few; the index on (coupon_id, organization_id) serves the count).
/// </remarks>
internal sealed class CouponRecountJob(Db db, CouponRedemptions redemptions, IAuditLog audit, TimeProvider time, ILogger<CouponRecountJob> log) : IRecurringJob, IReportsCounts
{
    private readonly Dictionary<string, long> counts = new() { ["checked"] = 0, ["repaired"] = 0 };

    public static string Id => "coupon-recount";
    public static string DefaultCron => "30 3 * * *";

    public IReadOnlyDictionary<string, long> Counts => counts;

    public async Task<long> RunAsync(CancellationToken ct)
    {
        await SettleStalePlanChangeHoldsAsync(ct);
        await SettleSessionlessCheckoutHoldsAsync(ct);
        List<Drift> drifts;
        await using (var connection = await db.OpenAsync(ct))
        {
            counts["checked"] = await connection.ExecuteScalarAsync<long>(new CommandDefinition("select count(*) from coupons", cancellationToken: ct));
            drifts = (await connection.QueryAsync<Drift>(new CommandDefinition(
                """
                select c.id, c.code, c.times_redeemed as stored,
                       (select count(*) from coupon_redemptions r where r.coupon_id = c.id and r.state in ('held', 'redeemed')) as actual
                from coupons c
                where c.times_redeemed <> (select count(*) from coupon_redemptions r where r.coupon_id = c.id and r.state in ('held', 'redeemed'))
                """, cancellationToken: ct))).AsList();
        }
        foreach (var drift in drifts)
        {
            try
            {
                var repaired = await db.InTransactionAsync(async (connection, tx) =>
                {
                    var n = await connection.ExecuteAsync(new CommandDefinition(
                        """
                        update coupons set times_redeemed = @Actual, updated_at = @now
                        where id = @Id and times_redeemed = @Stored
                          and @Actual = (select count(*) from coupon_redemptions r where r.coupon_id = coupons.id and r.state in ('held', 'redeemed'))
                        """, new { drift.Id, drift.Stored, drift.Actual, now = time.GetUtcNow() }, tx, cancellationToken: ct));
                    if (n == 1)
                        await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.CouponRecount, "coupon", drift.Code,
                            Changes: new { TimesRedeemed = drift.Actual, Was = drift.Stored }, Actor: "job:" + Id), ct);
                    return n == 1;
                }, ct);
                if (!repaired) continue;
                counts["repaired"]++;
                log.LogWarning("Coupon {Coupon} counted {Stored} redemptions but has {Actual} held or redeemed: repaired to {Actual}",
                    drift.Code, drift.Stored, drift.Actual, drift.Actual);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogError(e, "Could not repair the redemption count of coupon {Coupon}; the next run tries again", drift.Code);
            }
        }
        return counts["repaired"];
    }

    /// <summary>
    /// A plan change holds its coupon across its Stripe call; a process that died in between leaves the hold behind.
    /// After a day such a hold is settled by what the subscription shows: on the target plan → redeemed (Stripe applied
    /// the change and the sync recorded it); a downgrade to it still pending → kept; otherwise → released.
    /// </summary>
    private async Task SettleStalePlanChangeHoldsAsync(CancellationToken ct)
    {
        var cutoff = time.GetUtcNow().AddDays(-1);
        List<(string Id, string Reference)> stale;
        await using (var connection = await db.OpenAsync(ct))
            stale = (await connection.QueryAsync<(string, string)>(new CommandDefinition(
                """
                select id, reference from coupon_redemptions
                where state = 'held' and checkout_session_id is null and reference like 'plan-change:%' and updated_at < @cutoff
                order by id limit 500
                """, new { cutoff }, cancellationToken: ct))).AsList();
        foreach (var (id, reference) in stale)
        {
            var parts = reference.Split(':');
            if (parts.Length != 3) continue;
            try
            {
                await db.InTransactionAsync(async (connection, tx) =>
                {
                    var subscription = await connection.QuerySingleOrDefaultAsync<(string PlanCode, string? PendingPlanCode)>(new CommandDefinition(
                        "select plan_code, pending_plan_code from subscriptions where id = @id", new { id = parts[1] }, tx, cancellationToken: ct));
                    if (subscription.PendingPlanCode == parts[2]) return;
                    if (subscription.PlanCode == parts[2]) await redemptions.ConfirmAsync(connection, tx, id, ct);
                    else await redemptions.ReleaseAsync(connection, tx, id, ct);
                    log.LogWarning("Coupon redemption {RedemptionId} was still held by plan change {Reference} after a day: settled", id, reference);
                }, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogError(e, "Could not settle the stale coupon hold {RedemptionId}; the next run tries again", id);
            }
        }
    }

    /// <summary>
    /// A checkout holds its coupon before Stripe creates the session; a process that died in between (or a session
    /// whose id could not be recorded) leaves a hold no session names. Stripe's sessions live at most 24 hours, so after
    /// a day no such checkout can complete any more: the hold is given back (one conditional held → released update each).
    /// </summary>
    private async Task SettleSessionlessCheckoutHoldsAsync(CancellationToken ct)
    {
        var cutoff = time.GetUtcNow().AddDays(-1);
        List<string> stale;
        await using (var connection = await db.OpenAsync(ct))
            stale = (await connection.QueryAsync<string>(new CommandDefinition(
                """
                select id from coupon_redemptions
                where state = 'held' and checkout_session_id is null and reference like 'checkout:%' and updated_at < @cutoff
                order by id limit 500
                """, new { cutoff }, cancellationToken: ct))).AsList();
        if (stale.Count == 0) return;
        var released = await db.InTransactionAsync(async (connection, tx) =>
        {
            var count = 0;
            foreach (var id in stale)
                if (await redemptions.ReleaseAsync(connection, tx, id, ct)) count++;
            return count;
        }, ct);
        log.LogWarning("Released {Count} coupon holds of checkouts that never got a session within a day", released);
    }

    private sealed record Drift
    {
        public string Id { get; init; } = "";
        public string Code { get; init; } = "";
        public long Stored { get; init; }
        public long Actual { get; init; }
    }
}
