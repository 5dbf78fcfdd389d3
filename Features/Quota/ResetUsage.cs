using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ResetUsageRequest
{
    public string OrgId { get; init; } = "";
    public string Metric { get; init; } = "";
    /// <summary>Required: why (kept in the audit log with the value reset).</summary>
    public string? Reason { get; init; }

    public sealed class Validator : Validator<ResetUsageRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Reason).NotEmpty().WithMessage("reason is required.").MaximumLength(500).WithMessage("reason must be at most 500 characters.");
            RuleFor(r => r.Reason).NoControlCharacters("reason");
        }
    }
}

/// <summary><c>POST /v1/admin/organizations/{orgId}/usage/{metric}/reset</c>: the current period's usage back to 0, audited with its reason.</summary>
internal sealed class ResetUsage(UsageResets resets) : Endpoint<ResetUsageRequest, UsageReading>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{orgId}/usage/{metric}/reset");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Reset an organization's usage of a metric in the current period to 0 (audited, with a reason).");
        Description(d => d.Answers<UsageReading>().Problems(404));
    }

    public override async Task HandleAsync(ResetUsageRequest req, CancellationToken ct) =>
        await Send.OkAsync(await resets.ResetAsync(req.OrgId, req.Metric, req.Reason!.Trim(), ct), ct);
}
