using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// Daily (01:00, before the storage-grace warnings at 02:00): every organization with open plan violations is
/// measured again against the plan in force now; a violation whose usage is back under the limit (or whose plan no
/// longer limits it) clears itself, the others get today's figures.
/// </summary>
/// <remarks>Organizations in batches of 100 by id; one organization's failure is logged and the sweep goes on.</remarks>
internal sealed class ViolationsCheckJob(Db db, PlanViolations violations, IOrganizationPlans plans, TimeProvider time, JobContext context,
    ILogger<ViolationsCheckJob> log) : IRecurringJob, IReportsCounts
{
    private const int BatchSize = 100;
    private readonly Dictionary<string, long> counts = new() { ["organizations"] = 0, ["cleared"] = 0, ["failed"] = 0 };

    public static string Id => "billing-violations-check";
    public static string DefaultCron => "0 1 * * *";

    public IReadOnlyDictionary<string, long> Counts => counts;

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var after = "";
        while (!context.Stop.IsCancellationRequested)
        {
            List<string> organizations;
            await using (var connection = await db.OpenAsync(ct))
                organizations = (await connection.QueryAsync<string>(new CommandDefinition(
                    """
                    select distinct organization_id from plan_violations
                    where cleared_at is null and organization_id > @after
                    order by organization_id
                    limit @BatchSize
                    """, new { after, BatchSize }, cancellationToken: ct))).AsList();
            if (organizations.Count == 0) break;
            after = organizations[^1];
            foreach (var organizationId in organizations)
            {
                try
                {
                    counts["cleared"] += await CheckAsync(organizationId, ct);
                    counts["organizations"]++;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    counts["failed"]++;
                    log.LogError(e, "Could not re-check the plan violations of organization {OrganizationId}; the next run tries again", organizationId);
                }
            }
            if (organizations.Count < BatchSize) break;
        }
        return counts["cleared"];
    }

    private async Task<int> CheckAsync(string organizationId, CancellationToken ct)
    {
        var plan = await plans.GetAsync(organizationId, ct);
        var (from, to) = plan.PeriodStart is { } s && plan.PeriodEnd is { } e ? (s, e) : PlanViolations.CalendarMonth(time.GetUtcNow());
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var open = await PlanViolations.OpenAsync(connection, tx, organizationId, ct);
            var usage = await violations.UsageAsync(connection, tx, organizationId, from, to, ct);
            var planName = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
                "select name from plans where code = @PlanCode", new { plan.PlanCode }, tx, cancellationToken: ct)) ?? plan.PlanCode;
            // Only what is still open is kept: the check never opens a violation (only a downgrade does).
            var findings = PlanViolations.Against(usage, plan.Limits, planName).Where(f => open.Any(v => v.Metric == f.Metric)).ToList();
            var after = await violations.StoreAsync(connection, tx, organizationId, plan.PlanCode, findings, null, ct);
            var cleared = open.Count - after.Count;
            if (cleared > 0) log.LogInformation("Organization {OrganizationId} is back under its plan for {Count} metrics: violations cleared", organizationId, cleared);
            return cleared;
        }, ct);
    }
}
