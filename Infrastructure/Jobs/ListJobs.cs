using FastEndpoints;
using Hangfire;
using Hangfire.Storage;

namespace Backstop.Infrastructure.Jobs;

internal sealed record ListJobsRequest : PageRequest
{
    /// <summary>Only runs of this job.</summary>
    [QueryParam] public string? JobId { get; init; }
}

/// <param name="Schedule">The cron expression (UTC) in force, or <c>disabled</c>.</param>
/// <param name="Enabled">Whether Hangfire holds the schedule now: false when disabled by configuration or removed through the dashboard.</param>
/// <param name="State"><c>scheduled</c>, <c>disabled</c> (by <c>Jobs:Schedules</c>) or <c>removed</c> (through the dashboard, until the next start).</param>
/// <param name="NextRunAt">When it runs next (UTC), computed from the schedule and the clock; null unless scheduled.</param>
internal sealed record JobInfo(string Id, string Schedule, bool Enabled, string State, DateTimeOffset? NextRunAt);

internal sealed record ListJobsResponse(IReadOnlyList<JobInfo> Jobs, IReadOnlyList<JobRun> Runs, string? NextCursor);

/// <summary><c>GET /v1/admin/jobs</c>: the recurring jobs with their schedules, and their runs, newest first.</summary>
internal sealed class ListJobs(
    Db db, IEnumerable<RecurringJobDefinition> definitions, IOptions<JobsOptions> options, JobStorage storage, TimeProvider time)
    : Endpoint<ListJobsRequest, ListJobsResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/jobs");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List recurring jobs and their runs (newest first, paginated).");
    }

    public sealed class Validator : FastEndpoints.Validator<ListJobsRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListJobsRequest req, CancellationToken ct)
    {
        // What Hangfire holds is the truth: the dashboard can remove a recurring job, which then stays removed
        // until the next start registers it again.
        var now = time.GetUtcNow();
        var ids = definitions.Select(d => d.Id).ToList();
        Dictionary<string, RecurringJobDto> registered;
        using (var hangfire = storage.GetConnection())
            registered = hangfire.GetRecurringJobs(ids).Where(j => !j.Removed && j.Cron is not null).ToDictionary(j => j.Id, StringComparer.Ordinal);
        var jobs = definitions
            .Select(d =>
            {
                var schedule = JobSchedule.Of(d, options.Value);
                if (JobSchedule.IsDisabled(schedule)) return new JobInfo(d.Id, JobsOptions.Disabled, false, "disabled", null);
                if (!registered.TryGetValue(d.Id, out var job)) return new JobInfo(d.Id, schedule, false, "removed", null);
                return new JobInfo(d.Id, job.Cron, true, "scheduled", JobSchedule.NextRun(job.Cron, now));
            })
            .OrderBy(j => j.Id, StringComparer.Ordinal)
            .ToList();

        await using var connection = await db.OpenAsync(ct);
        var page = await connection.PageAsync<JobRun>("select id, job_id, started_at, finished_at, outcome, items, error, correlation_id, counts from job_runs",
            "@JobId is null or job_id = @JobId", new { req.JobId }, req, r => r.Id, ct);
        await Send.OkAsync(new ListJobsResponse(jobs, page.Items, page.NextCursor), ct);
    }
}
