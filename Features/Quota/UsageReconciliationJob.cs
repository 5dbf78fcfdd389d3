using Backstop.Features.ApiKeys;
using Backstop.Features.Billing;
using Backstop.Features.Bots;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Quota;

/// <summary>
/// Daily at 03:30: every usage Backstop can count from its own rows is recounted through the owning slice's public
/// interface (members: <see cref="IOrganizationDirectory"/>; stored audio and meetings created this period:
/// <see cref="IMeetingUsage"/>), and a stored value that differs is recorded in <c>usage_drift</c> and (with
/// <c>Quota:Reconcile=repair</c>) corrected. Organizations are those with usage rows of these metrics, in pages of
/// <c>Quota:BatchSize</c>.
/// </summary>
/// <remarks>
/// Each organization is one transaction that first locks its counter rows (a no-op update), then counts, then
/// corrects: on PostgreSQL a consumption waiting on the lock commits after the correction and adds to it, and
/// every one committed before it is in the count (each statement reads what is committed); on SQLite the writer lock
/// orders them. A correction adds the difference (counted − stored) rather than overwriting: when the period's row did
/// not exist at the lock (nothing to lock), a consumption that creates it concurrently keeps its count. Meetings are
/// counted from an operator's reset on (<c>reset_at</c>), so a reset is never undone; gauges Backstop counts are
/// facts (the rows that exist) and are set to the count. Application metrics (and their sets) are never touched.
/// The recount is one query per metric per organization: the slices' public faces count one
/// organization at a time. One organization's failure is logged and the sweep goes on.
/// </remarks>
internal sealed class UsageReconciliationJob(
    Db db,
    UsageMeter meter,
    IOrganizationPlans plans,
    IOrganizationDirectory directory,
    IMeetingUsage meetings,
    IOptions<QuotaOptions> options,
    TimeProvider time,
    JobContext context,
    ILogger<UsageReconciliationJob> log) : IRecurringJob, IReportsCounts
{
    private static readonly string[] Countable = [BuiltInMetrics.TeamMembers, BuiltInMetrics.StorageBytes, BuiltInMetrics.Meetings];

    private long checkedCount;
    private long drifted;
    private long failed;

    public static string Id => "usage-reconciliation";
    public static string DefaultCron => "30 3 * * *";

    public IReadOnlyDictionary<string, long> Counts => new Dictionary<string, long>
    {
        ["organizations"] = checkedCount, ["drifted"] = drifted, ["failed"] = failed,
    };

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var batch = options.Value.BatchSize;
        var after = "";
        while (!context.Stop.IsCancellationRequested)
        {
            List<string> page;
            await using (var connection = await db.OpenAsync(ct))
                page = (await connection.QueryAsync<string>(new CommandDefinition(
                    """
                    select distinct organization_id from usage_counters
                    where organization_id > @after and metric in ('team_members', 'storage_bytes', 'meetings_per_month')
                    order by organization_id
                    limit @batch
                    """, new { after, batch }, cancellationToken: ct))).AsList();
            if (page.Count == 0) break;
            after = page[^1];
            foreach (var organizationId in page)
            {
                try
                {
                    drifted += await ReconcileAsync(organizationId, ct);
                    checkedCount++;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    failed++;
                    log.LogError(e, "Usage of organization {OrganizationId} could not be reconciled; the next run tries again", organizationId);
                }
            }
            if (page.Count < batch) break;
        }
        return checkedCount;
    }

    private async Task<int> ReconcileAsync(string organizationId, CancellationToken ct)
    {
        var plan = await plans.GetAsync(organizationId, ct);
        DateTimeOffset? anchorStart = null, anchorEnd = null;
        List<MetricRow> metrics;
        await using (var connection = await db.OpenAsync(ct))
        {
            var anchor = await connection.QuerySingleOrDefaultAsync<Anchor>(new CommandDefinition(
                "select period_start, period_end from usage_anchors where organization_id = @organizationId", new { organizationId }, cancellationToken: ct));
            (anchorStart, anchorEnd) = (anchor?.PeriodStart, anchor?.PeriodEnd);
            metrics = (await connection.QueryAsync<MetricRow>(new CommandDefinition(
                $"select {MetricRow.Columns} from usage_metrics where name in ('team_members', 'storage_bytes', 'meetings_per_month')",
                cancellationToken: ct))).AsList();
        }
        var scopes = Countable.Select(name => metrics.Single(m => m.Name == name))
            .Select(m => meter.Scope(m, organizationId, null, anchorStart, anchorEnd, plan, lenient: true)).ToList();
        var now = time.GetUtcNow();
        var repair = options.Value.Repair;

        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var found = 0;
            foreach (var scope in scopes)
            {
                var args = new { organizationId, metric = scope.Metric.Name, scope.PeriodStart, scope.PeriodEnd, now };
                var row = await connection.QuerySingleOrDefaultAsync<Locked>(new CommandDefinition(
                    """
                    update usage_counters set updated_at = updated_at
                    where organization_id = @organizationId and metric = @metric and period_start = @PeriodStart
                    returning used, reset_at
                    """, args, tx, cancellationToken: ct));
                var stored = row?.Used ?? 0;
                // An operator's reset is deliberate: only what was created since it counts.
                var counted = await CountAsync(connection, tx, scope, row?.ResetAt, ct);
                if (stored == counted) continue;
                found++;
                log.LogWarning("Usage drift: organization {OrganizationId} {Metric} stored {Stored}, counted {Counted}",
                    organizationId, scope.Metric.Name, stored, counted);
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    insert into usage_drift (id, organization_id, metric, period_start, stored, counted, corrected, detected_at)
                    values (@id, @organizationId, @metric, @PeriodStart, @stored, @counted, @repair, @now)
                    """, new { id = Ids.New(time), organizationId, metric = scope.Metric.Name, scope.PeriodStart, stored, counted, repair, now },
                    tx, cancellationToken: ct));
                if (repair)
                    await connection.ExecuteAsync(new CommandDefinition(
                        """
                        insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
                        values (@organizationId, @metric, @PeriodStart, @PeriodEnd, @counted, @now, @now)
                        on conflict (organization_id, metric, period_start) do update
                            set used = usage_counters.used + @delta, updated_at = excluded.updated_at
                        """, new { organizationId, metric = scope.Metric.Name, scope.PeriodStart, scope.PeriodEnd, counted, delta = counted - stored, now },
                        tx, cancellationToken: ct));
            }
            return found;
        }, ct);
    }

    private Task<long> CountAsync(DbConnection connection, DbTransaction tx, UsageScope scope, DateTimeOffset? resetAt, CancellationToken ct) => scope.Metric.Name switch
    {
        BuiltInMetrics.TeamMembers => directory.CountMembersAsync(connection, tx, scope.OrganizationId, ct),
        BuiltInMetrics.StorageBytes => meetings.StoredBytesAsync(connection, tx, scope.OrganizationId, ct),
        _ => meetings.CountMeetingsCreatedAsync(connection, tx, scope.OrganizationId,
            resetAt is { } r && r > scope.PeriodStart ? r : scope.PeriodStart, scope.PeriodEnd, ct),
    };

    private sealed record Locked
    {
        public long Used { get; init; }
        public DateTimeOffset? ResetAt { get; init; }
    }

    private sealed record Anchor
    {
        public DateTimeOffset PeriodStart { get; init; }
        public DateTimeOffset PeriodEnd { get; init; }
    }
}
