using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record ListDriftRequest : PageRequest
{
    [QueryParam] public string? OrganizationId { get; init; }
    [QueryParam] public string? Metric { get; init; }

    public sealed class Validator : Validator<ListDriftRequest>
    {
        public Validator() => this.AddPagingRules();
    }
}

/// <param name="Stored">The usage that was stored.</param>
/// <param name="Counted">What the source rows counted.</param>
/// <param name="Corrected">Whether the stored usage was set to the count (<c>Quota:Reconcile=repair</c>).</param>
internal sealed record UsageDrift(string Id, string OrganizationId, string Metric, DateTimeOffset PeriodStart, long Stored, long Counted, bool Corrected,
    DateTimeOffset DetectedAt);

/// <summary><c>GET /v1/admin/usage/drift</c>: what usage reconciliation found, newest first.</summary>
internal sealed class ListDrift(Db db) : Endpoint<ListDriftRequest, Page<UsageDrift>>
{
    public override void Configure()
    {
        Get("/v1/admin/usage/drift");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List usage drift found by reconciliation (stored against counted), newest first.");
    }

    public override async Task HandleAsync(ListDriftRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var page = await connection.PageAsync<DriftRow>(
            "select id, organization_id, metric, period_start, stored, counted, corrected, detected_at from usage_drift",
            "(@OrganizationId is null or organization_id = @OrganizationId) and (@Metric is null or metric = @Metric)",
            new { req.OrganizationId, req.Metric }, req, r => r.Id, ct);
        await Send.OkAsync(page.Map(r => new UsageDrift(r.Id, r.OrganizationId, r.Metric, r.PeriodStart, r.Stored, r.Counted, r.Corrected, r.DetectedAt)), ct);
    }

    private sealed record DriftRow
    {
        public string Id { get; init; } = "";
        public string OrganizationId { get; init; } = "";
        public string Metric { get; init; } = "";
        public DateTimeOffset PeriodStart { get; init; }
        public long Stored { get; init; }
        public long Counted { get; init; }
        public bool Corrected { get; init; }
        public DateTimeOffset DetectedAt { get; init; }
    }
}
