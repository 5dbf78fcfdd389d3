using Backstop.Infrastructure.Jobs;
using FastEndpoints;
using Hangfire;
using Hangfire.Storage;

namespace Backstop.Features.Cleanup;

internal sealed record ListCleanupRequest
{
    /// <summary>How many of each sweep's latest runs to show (default 5, at most 50).</summary>
    [QueryParam] public int? Runs { get; init; }
}

/// <param name="Done">Items done, for sweeps that count them apart (<c>job_runs.counts</c>); else null.</param>
internal sealed record CleanupRun(
    string Id, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string Outcome, long Items,
    long? Done, long? Failed, long? BytesFreed, long? Batches, string? Error);

internal sealed record CleanupTotals(long ItemsDone, long ItemsFailed, long BytesFreed);

/// <param name="Schedule">The cron expression (UTC) in force, or <c>disabled</c>.</param>
/// <param name="State"><c>scheduled</c>, <c>disabled</c> (by <c>Jobs:Schedules</c>) or <c>removed</c> (through the dashboard, until the next start), as <c>GET /v1/admin/jobs</c> says.</param>
/// <param name="NextRunAt">When it runs next (UTC), from the schedule and the clock; null unless scheduled.</param>
/// <param name="Totals">Since the first run (not bounded by job-runs retention), for the sweeps of the Cleanup slice; else null.</param>
internal sealed record CleanupSweep(
    string Id, string Schedule, bool Enabled, string State, DateTimeOffset? NextRunAt, CleanupTotals? Totals, IReadOnlyList<CleanupRun> LastRuns);

internal sealed record ListCleanupResponse(IReadOnlyList<CleanupSweep> Sweeps, long BytesFreedTotal);

/// <summary><c>GET /v1/admin/cleanup</c>: every cleanup sweep with its schedule, next run, latest runs and totals.</summary>
internal sealed class ListCleanup(
    Db db, JobStorage storage, IEnumerable<RecurringJobDefinition> definitions, IOptions<JobsOptions> jobs, TimeProvider time)
    : Endpoint<ListCleanupRequest, ListCleanupResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/cleanup");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the cleanup sweeps: schedule, next run, latest runs with their counts, bytes freed in total.");
    }

    public sealed class Validator : Validator<ListCleanupRequest>
    {
        public Validator() => RuleFor(r => r.Runs).InclusiveBetween(1, 50).When(r => r.Runs is not null).WithMessage("runs must be between 1 and 50.");
    }

    private sealed record RunRow(string Id, string JobId, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string Outcome, long Items, string? Error, string? Counts);

    private sealed record TotalsRow(string Sweep, long ItemsDone, long ItemsFailed, long BytesFreed);

    public override async Task HandleAsync(ListCleanupRequest req, CancellationToken ct)
    {
        var sweeps = CleanupSweeps.Registered(definitions);
        var ids = sweeps.Select(s => s.Id).ToArray();

        await using var connection = await db.OpenAsync(ct);
        var runs = (await connection.QueryAsync<RunRow>(new CommandDefinition(
            $"""
            select id, job_id, started_at, finished_at, outcome, items, error, counts
            from (select id, job_id, started_at, finished_at, outcome, items, error, counts,
                         row_number() over (partition by job_id order by id desc) as n
                  from job_runs where {db.Dialect.AnyOf("job_id", "ids")}) latest
            where n <= @runs
            order by job_id, id desc
            """, new { ids, runs = req.Runs ?? 5 }, cancellationToken: ct))).ToLookup(r => r.JobId, StringComparer.Ordinal);
        var totals = (await connection.QueryAsync<TotalsRow>(new CommandDefinition(
            "select sweep, items_done, items_failed, bytes_freed from cleanup_totals", cancellationToken: ct)))
            .ToDictionary(t => t.Sweep, StringComparer.Ordinal);

        // What Hangfire holds is the truth: the dashboard can remove a recurring job until the next start.
        var now = time.GetUtcNow();
        Dictionary<string, RecurringJobDto> registered;
        using (var hangfire = storage.GetConnection())
            registered = hangfire.GetRecurringJobs(ids).Where(j => !j.Removed && j.Cron is not null).ToDictionary(j => j.Id, StringComparer.Ordinal);

        var result = sweeps.Select(d =>
        {
            var schedule = JobSchedule.Of(d, jobs.Value);
            var (cron, state, next) = JobSchedule.IsDisabled(schedule) ? (JobsOptions.Disabled, "disabled", (DateTimeOffset?)null)
                : registered.TryGetValue(d.Id, out var job) ? (job.Cron, "scheduled", JobSchedule.NextRun(job.Cron, now))
                : (schedule, "removed", null);
            return new CleanupSweep(d.Id, cron, state == "scheduled", state, next,
                totals.TryGetValue(d.Id, out var t) ? new CleanupTotals(t.ItemsDone, t.ItemsFailed, t.BytesFreed) : null,
                runs[d.Id].Select(View).ToList());
        }).ToList();
        await Send.OkAsync(new ListCleanupResponse(result, totals.Values.Sum(t => t.BytesFreed)), ct);
    }

    private static CleanupRun View(RunRow r)
    {
        var counts = r.Counts is null ? null : JsonSerializer.Deserialize<Dictionary<string, long>>(r.Counts);
        long? Count(string key) => counts is not null && counts.TryGetValue(key, out var v) ? v : null;
        return new CleanupRun(r.Id, r.StartedAt, r.FinishedAt, r.Outcome, r.Items,
            Count(SweepCounts.DoneKey), Count(SweepCounts.FailedKey), Count(SweepCounts.BytesFreedKey), Count(SweepCounts.BatchesKey), r.Error);
    }
}
