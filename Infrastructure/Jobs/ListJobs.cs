using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Jobs;

public sealed record ListJobsRequest : PageRequest
{
    /// <summary>Only runs of this job.</summary>
    [QueryParam] public string? JobId { get; init; }
}

public sealed record JobInfo(string Id, string Schedule, bool Enabled);

public sealed record ListJobsResponse(IReadOnlyList<JobInfo> Jobs, IReadOnlyList<JobRun> Runs, string? NextCursor);

/// <summary><c>GET /v1/admin/jobs</c>: the recurring jobs with their schedules, and their runs, newest first.</summary>
public sealed class ListJobs(Db db, IEnumerable<RecurringJobDefinition> definitions, IOptions<JobsOptions> options)
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
        var jobs = definitions
            .Select(d =>
            {
                var schedule = options.Value.Schedules.TryGetValue(d.Id, out var cron) ? cron : d.DefaultCron;
                return new JobInfo(d.Id, schedule, !schedule.Equals(JobsOptions.Disabled, StringComparison.OrdinalIgnoreCase));
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
public sealed class RunJob(JobRunner runner, Audit.IAuditLog audit) : Endpoint<RunJobRequest, JobRun>
{
    public override void Configure()
    {
        Post("/v1/admin/jobs/{id}/run");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Run a recurring job now and return the recorded run.");
    }

    public override async Task HandleAsync(RunJobRequest req, CancellationToken ct)
    {
        if (runner.Find(req.Id) is null) throw Errors.ProblemException.NotFound($"Job '{req.Id}'");
        var run = await runner.RunAsync(req.Id, ct);
        // A job commits its work in batches of its own, so the entry follows the run rather than sharing a transaction.
        await audit.RecordAsync(new Audit.AuditEntry(Audit.AuditActions.JobRun, "job", req.Id, Changes: new { runId = run.Id, run.Outcome }), ct);
        await Send.OkAsync(run, ct);
    }
}
