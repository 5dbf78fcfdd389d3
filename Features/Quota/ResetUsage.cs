using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;
using FluentValidation;

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
internal sealed class ResetUsage(Db db, UsageMeter meter, IOrganizationDirectory organizations, IAuditLog audit, TimeProvider time)
    : Endpoint<ResetUsageRequest, UsageReading>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{orgId}/usage/{metric}/reset");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Reset an organization's usage of a metric in the current period to 0 (audited, with a reason).");
        Description(d => d.Answers<UsageReading>().Problems(404));
    }

    public override async Task HandleAsync(ResetUsageRequest req, CancellationToken ct)
    {
        await using (var check = await db.OpenAsync(ct))
            if (!await organizations.ExistsAsync(check, req.OrgId, ct)) throw ProblemException.NotFound("Organization");
        var scope = await meter.ResolveAsync(req.OrgId, req.Metric, lenient: true, ct);
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            // The figure before is for the audit entry only: a consumption committing in between is reset with the rest.
            var before = await UsageMeter.UsedAsync(connection, tx, scope, ct);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update usage_counters set used = 0, reset_at = @now, updated_at = @now
                where organization_id = @OrgId and metric = @Metric and period_start = @PeriodStart
                """, new { req.OrgId, req.Metric, scope.PeriodStart, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageReset, "usage", $"{req.OrgId}:{req.Metric}", req.OrgId,
                new { req.Metric, periodStart = scope.IsGauge ? (DateTimeOffset?)null : scope.PeriodStart, reason = req.Reason!.Trim(), before }), ct);
        }, ct);
        await Send.OkAsync(scope.Reading(0), ct);
    }
}
