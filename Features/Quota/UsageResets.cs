using Backstop.Features.ApiKeys;

namespace Backstop.Features.Quota;

/// <summary>
/// An operator's reset of an organization's usage of a metric in the current period to 0, audited with its reason
/// in the same transaction: <c>POST /v1/admin/organizations/{orgId}/usage/{metric}/reset</c> and the console call it.
/// </summary>
internal sealed class UsageResets(Db db, UsageMeter meter, IOrganizationDirectory organizations, IAuditLog audit, TimeProvider time)
{
    /// <summary>Throws a 404 problem for an unknown organization or metric. Answers the reading afterwards (0 used).</summary>
    public async Task<UsageReading> ResetAsync(string organizationId, string metric, string reason, CancellationToken ct)
    {
        await using (var check = await db.OpenAsync(ct))
            if (!await organizations.ExistsAsync(check, organizationId, ct)) throw ProblemException.NotFound("Organization");
        var scope = await meter.ResolveAsync(organizationId, metric, lenient: true, ct);
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            // The figure before is for the audit entry only: a consumption committing in between is reset with the rest.
            var before = await UsageMeter.UsedAsync(connection, tx, scope, ct);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update usage_counters set used = 0, reset_at = @now, updated_at = @now
                where organization_id = @organizationId and metric = @metric and period_start = @PeriodStart
                """, new { organizationId, metric, scope.PeriodStart, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageReset, "usage", $"{organizationId}:{metric}", organizationId,
                new { Metric = metric, periodStart = scope.IsGauge ? (DateTimeOffset?)null : scope.PeriodStart, reason, before }), ct);
        }, ct);
        return scope.Reading(0);
    }
}
