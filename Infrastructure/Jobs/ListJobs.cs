using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Jobs;

public sealed record ListJobsRequest : PageRequest
{
    /// <summary>Only runs of this job.</summary>
    [QueryParam] public string? JobId { get; init; }
}

/// <param name="Schedule">The cron expression (UTC) in force, or <c>disabled</c>.</param>
/// <param name="Enabled">Whether Hangfire holds the schedule now: false when disabled by configuration or removed through the dashboard.</param>
/// <param name="State"><c>scheduled</c>, <c>disabled</c> (by <c>Jobs:Schedules</c>) or <c>removed</c> (through the dashboard, until the next start).</param>
/// <param name="NextRunAt">When it runs next (UTC), computed from the schedule and the clock; null unless scheduled.</param>
public sealed record JobInfo(string Id, string Schedule, bool Enabled, string State, DateTimeOffset? NextRunAt);

public sealed record ListJobsResponse(IReadOnlyList<JobInfo> Jobs, IReadOnlyList<JobRun> Runs, string? NextCursor);

/// <summary><c>GET /v1/admin/jobs</c>: the recurring jobs with their schedules, and their runs, newest first.</summary>
public sealed class ListJobs(
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
        var rows = (await connection.QueryAsync<JobRun>(new CommandDefinition(
            """
            select id, job_id, started_at, finished_at, outcome, items, error, correlation_id
            from job_runs
            where (@JobId is null or job_id = @JobId) and (@After is null or id < @After)
            order by id desc
            limit @Limit
            """, new { req.JobId, req.After, Limit = req.Take + 1 }, cancellationToken: ct))).ToList();
        var page = Paging.Of(rows, req.Take, r => r.Id);
        await Send.OkAsync(new ListJobsResponse(jobs, page.Items, page.NextCursor), ct);
    }
}

public sealed record RunJobRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>POST /v1/admin/jobs/{id}/run</c>: runs a job now, under the same lease as scheduled runs.</summary>
public sealed class RunJob(JobRunner runner) : Endpoint<RunJobRequest, JobRun>
{
    public override void Configure()
    {
        Post("/v1/admin/jobs/{id}/run");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Run a recurring job now and return the recorded run.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RunJobRequest req, CancellationToken ct)
    {
        if (runner.Find(req.Id) is null) throw Errors.ProblemException.NotFound($"Job '{req.Id}'");
        await Send.OkAsync(await runner.RunAsync(req.Id, ct), ct);
    }
}
