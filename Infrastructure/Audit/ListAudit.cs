using FastEndpoints;

namespace Backstop.Infrastructure.Audit;

internal sealed record ListAuditRequest : PageRequest
{
    [QueryParam] public string? OrganizationId { get; init; }

    /// <summary><c>admin</c>, a tenant key's prefix (<c>bsk_live_…</c>), <c>provider:twilio</c> or <c>system</c>.</summary>
    [QueryParam] public string? Actor { get; init; }

    /// <summary>One of the actions listed in docs/audit.md (case-insensitive).</summary>
    [QueryParam] public string? Action { get; init; }

    internal string? NormalizedAction => Action?.Trim().ToLowerInvariant();
}

internal sealed record AuditEntryView(
    string Id,
    DateTimeOffset OccurredAt,
    string Actor,
    string Action,
    string TargetType,
    string TargetId,
    string? OrganizationId,
    string? RequestId,
    JsonElement? Changes)
{
    /// <summary>The <c>X-Request-Id</c> the client sent, when it sent one (<see cref="RequestId"/> is always the service's own).</summary>
    public string? ClientRequestId { get; init; }
}

internal sealed record ListAuditResponse(IReadOnlyList<AuditEntryView> Items, string? NextCursor);

/// <summary><c>GET /v1/admin/audit?organizationId=&amp;actor=&amp;action=</c>: who changed what, newest first, paginated.</summary>
internal sealed class ListAudit(Db db) : Endpoint<ListAuditRequest, ListAuditResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/audit");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "The audit log: operator and tenant changes with actor, action, target, time and request id (newest first, paginated).");
    }

    public sealed class Validator : Validator<ListAuditRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.Action).Must(a => a is null || AuditActions.All.Contains(a.Trim().ToLowerInvariant()))
                .WithMessage("action must be one of " + string.Join(", ", AuditActions.All) + ".");
            RuleFor(r => r.Actor).MaximumLength(100).WithMessage("actor must be at most 100 characters.");
            RuleFor(r => r.OrganizationId).MaximumLength(100).WithMessage("organizationId must be at most 100 characters.");
        }
    }

    private sealed record Row
    {
        public string Id { get; init; } = "";
        public DateTimeOffset OccurredAt { get; init; }
        public string Actor { get; init; } = "";
        public string Action { get; init; } = "";
        public string TargetType { get; init; } = "";
        public string TargetId { get; init; } = "";
        public string? OrganizationId { get; init; }
        public string? RequestId { get; init; }
        public string? ClientRequestId { get; init; }
        public string? Changes { get; init; }
    }

    public override async Task HandleAsync(ListAuditRequest req, CancellationToken ct) =>
        await Send.OkAsync(await QueryAsync(db, req, ct), ct);

    /// <summary>
    /// Only the filters given, each read from its (column, id) index in list order: SQLite plans a statement once for
    /// any values, and cannot use an index for "(@Actor is null or actor = @Actor)" (#29).
    /// </summary>
    private static string Filter(ListAuditRequest req) =>
        string.Join(" and ", new[]
        {
            req.OrganizationId is null ? null : "organization_id = @OrganizationId", req.Actor is null ? null : "actor = @Actor",
            req.NormalizedAction is null ? null : "action = @action", req.After is null ? null : "id < @After",
        }.Where(c => c is not null).DefaultIfEmpty("1 = 1"));

    /// <summary>The log's query (also the operator console's audit pages); <paramref name="req"/> as the validator accepts it.</summary>
    internal static async Task<ListAuditResponse> QueryAsync(Db db, ListAuditRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<Row>(new CommandDefinition(
            $"""
            select id, occurred_at, actor, action, target_type, target_id, organization_id, request_id, client_request_id, changes
            from audit_log
            where {Filter(req)}
            order by id desc
            limit @Limit
            """, new { req.OrganizationId, req.Actor, action = req.NormalizedAction, req.After, Limit = req.Take + 1 }, cancellationToken: ct))).ToList();
        var page = Paging.Of(rows, req.Take, r => r.Id);
        var items = page.Items.Select(r => new AuditEntryView(r.Id, r.OccurredAt, r.Actor, r.Action, r.TargetType, r.TargetId, r.OrganizationId,
            r.RequestId, r.Changes is null ? null : JsonDocument.Parse(r.Changes).RootElement.Clone()) { ClientRequestId = r.ClientRequestId }).ToList();
        return new ListAuditResponse(items, page.NextCursor);
    }
}
