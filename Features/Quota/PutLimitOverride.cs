using Backstop.Features.ApiKeys;
using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record PutLimitOverrideRequest
{
    public string OrgId { get; init; } = "";
    public string Metric { get; init; } = "";
    /// <summary>The organization's limit, winning over its plan's (-1 unlimited); null removes the override.</summary>
    public long? Limit { get; init; }
    public string? Reason { get; init; }

    public sealed class Validator : Validator<PutLimitOverrideRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Limit).GreaterThanOrEqualTo(-1).When(r => r.Limit is not null).WithMessage("limit must be -1 (unlimited) or at least 0.");
            RuleFor(r => r.Reason).MaximumLength(500).WithMessage("reason must be at most 500 characters.");
            RuleFor(r => r.Reason).NoControlCharacters("reason");
        }
    }
}

/// <summary><c>PUT /v1/admin/organizations/{orgId}/usage/{metric}/limit</c>: the operator's override of one organization's limit.</summary>
internal sealed class PutLimitOverride(Db db, UsageMeter meter, IOrganizationDirectory organizations, IAuditLog audit, TimeProvider time)
    : Endpoint<PutLimitOverrideRequest, UsageReading>
{
    public override void Configure()
    {
        Put("/v1/admin/organizations/{orgId}/usage/{metric}/limit");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Override an organization's limit of a metric (null limit removes the override).");
        Description(d => d.Answers<UsageReading>().Problems(404));
    }

    public override async Task HandleAsync(PutLimitOverrideRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using (var check = await db.OpenAsync(ct))
        {
            if (!await organizations.ExistsAsync(check, req.OrgId, ct)) throw ProblemException.NotFound("Organization");
            if (await MetricRow.FindAsync(check, null, req.Metric, ct) is null) throw UsageMeter.UnknownMetric(req.Metric, declared: false);
        }
        await db.InTransactionAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(req.Limit is null
                ? "delete from usage_limit_overrides where organization_id = @OrgId and metric = @Metric"
                : """
                  insert into usage_limit_overrides (organization_id, metric, limit_value, reason, created_at, updated_at)
                  values (@OrgId, @Metric, @Limit, @Reason, @now, @now)
                  on conflict (organization_id, metric) do update
                      set limit_value = excluded.limit_value, reason = excluded.reason, updated_at = excluded.updated_at
                  """, new { req.OrgId, req.Metric, req.Limit, req.Reason, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageLimitSet, "usage_limit", $"{req.OrgId}:{req.Metric}", req.OrgId,
                new { req.Metric, req.Limit, req.Reason }), ct);
        }, ct);
        await Send.OkAsync(await meter.CurrentAsync(req.OrgId, req.Metric, ct), ct);
    }
}
