using FastEndpoints;

namespace Backstop.Features.Billing.Reconciliation;

internal sealed record ResolveDiscrepancyRequest
{
    public string Id { get; init; } = "";

    /// <summary>What the operator found or did (kept on the discrepancy and in the audit log).</summary>
    public string Note { get; init; } = "";

    public sealed class Validator : Validator<ResolveDiscrepancyRequest>
    {
        public Validator() => RuleFor(r => r.Note).NotEmpty().MaximumLength(1000);
    }
}

/// <summary>
/// <c>POST /v1/admin/billing/discrepancies/{id}/resolve</c>: an operator closes an open discrepancy with a note. One
/// conditional update decides (a second resolve, or reconciliation resolving it first, is 409). If the drift is
/// still there at the next reconciliation, a new open row records it.
/// </summary>
internal sealed class ResolveDiscrepancy(Db db, IAuditLog audit, TimeProvider time) : Endpoint<ResolveDiscrepancyRequest, DiscrepancyResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/billing/discrepancies/{id}/resolve");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Resolve an open billing discrepancy by hand, with a note.");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(ResolveDiscrepancyRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var note = req.Note.Trim();
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var resolved = await connection.QuerySingleOrDefaultAsync<DiscrepancyRow>(new CommandDefinition(
                $"""
                update billing_discrepancies set resolved = @yes, resolved_at = @now, resolution_note = @note, updated_at = @now
                where id = @Id and not resolved
                returning {ListDiscrepancies.Columns}
                """, new { req.Id, note, now, yes = true }, tx, cancellationToken: ct));
            if (resolved is null)
            {
                var exists = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "select count(*) from billing_discrepancies where id = @Id", new { req.Id }, tx, cancellationToken: ct));
                throw exists == 0 ? ProblemException.NotFound($"Discrepancy '{req.Id}'") : new ProblemException(409, "discrepancy_resolved", "The discrepancy is resolved already.");
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.BillingDiscrepancyResolve, "billing_discrepancy", resolved.Id, resolved.OrganizationId,
                new { resolved.Field, resolved.ProviderSubscriptionId, note }), ct);
            return resolved;
        }, ct);
        await Send.OkAsync(row.ToResponse(), ct);
    }
}
