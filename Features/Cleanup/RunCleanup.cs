using Backstop.Infrastructure.Jobs;
using FastEndpoints;

namespace Backstop.Features.Cleanup;

internal sealed record RunCleanupRequest
{
    public string Sweep { get; init; } = "";
}

/// <summary>
/// <c>POST /v1/admin/cleanup/{sweep}/run</c>: runs one cleanup sweep now, under the same lease as its scheduled runs,
/// and answers the recorded run (<c>skipped</c> when another run holds the lease).
/// </summary>
internal sealed class RunCleanup(JobRunner runner, IEnumerable<RecurringJobDefinition> definitions, IAuditLog audit) : Endpoint<RunCleanupRequest, JobRun>
{
    public override void Configure()
    {
        Post("/v1/admin/cleanup/{sweep}/run");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Run a cleanup sweep now and return the recorded run (skipped if one is already running).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RunCleanupRequest req, CancellationToken ct)
    {
        if (!CleanupSweeps.Registered(definitions).Any(d => string.Equals(d.Id, req.Sweep, StringComparison.Ordinal)))
            throw ProblemException.NotFound($"Cleanup sweep '{req.Sweep}'");
        var run = await runner.RunAsync(req.Sweep, ct);
        // Audited as a job run, like POST /v1/admin/jobs/{id}/run: it is one.
        await audit.RecordAsync(new AuditEntry(AuditActions.JobRun, "job", req.Sweep, Changes: new { runId = run.Id, run.Outcome }), ct);
        await Send.OkAsync(run, ct);
    }
}
