using FastEndpoints;

namespace Backstop.Infrastructure.Jobs;

internal sealed record RunJobRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>POST /v1/admin/jobs/{id}/run</c>: runs a job now, under the same lease as scheduled runs.</summary>
internal sealed class RunJob(JobRunner runner, IAuditLog audit) : Endpoint<RunJobRequest, JobRun>
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
        if (runner.Find(req.Id) is null) throw ProblemException.NotFound($"Job '{req.Id}'");
        var run = await runner.RunAsync(req.Id, ct);
        // A job commits its work in batches of its own, so the entry follows the run rather than sharing a transaction.
        await audit.RecordAsync(new AuditEntry(AuditActions.JobRun, "job", req.Id, Changes: new { runId = run.Id, run.Outcome }), ct);
        await Send.OkAsync(run, ct);
    }
}
