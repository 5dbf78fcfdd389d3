using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ReleaseUsageRequest : IUsageChange
{
    public string Metric { get; init; } = "";
    /// <summary>How much to give back; default 1 (at most what is used).</summary>
    public long Amount { get; init; } = 1;
    /// <summary>Sent again with a retry: the first answer is given again and nothing more is counted (at most 255 characters).</summary>
    public string? IdempotencyKey { get; init; }

    public sealed class Validator : Validator<ReleaseUsageRequest>
    {
        public Validator()
        {
            UsageChangeRules.Apply(this);
        }
    }
}

/// <summary><c>POST /v1/usage/{metric}/release</c>: gives back usage of a gauge (a deleted chatbot); more than is used is 409 <c>release_exceeds_usage</c>.</summary>
internal sealed class ReleaseUsage(UsageMeter meter) : Endpoint<ReleaseUsageRequest, UsageReading>
{
    public override void Configure()
    {
        Post("/v1/usage/{metric}/release");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Release usage of a gauge (409 release_exceeds_usage when more than is used).");
        Description(d => d.Answers<UsageReading>().Problems(403, 404, 409));
    }

    public override async Task HandleAsync(ReleaseUsageRequest req, CancellationToken ct) =>
        await Send.OkAsync(await meter.ApplyOwnAsync(User.OrganizationId(), req.Metric, MeterOperations.Release, req.Amount, req.IdempotencyKey, ct,
            AuditLog.ActorOf(User, null), HttpContext.TraceIdentifier), ct);
}
