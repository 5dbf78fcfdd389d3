using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using FastEndpoints;

namespace Backstop.Infrastructure.Jobs;

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
        if (runner.Find(req.Id) is null) throw ProblemException.NotFound($"Job '{req.Id}'");
        await Send.OkAsync(await runner.RunAsync(req.Id, ct), ct);
    }
}
