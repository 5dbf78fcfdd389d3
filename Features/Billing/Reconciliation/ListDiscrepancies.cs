using FastEndpoints;

namespace Backstop.Features.Billing.Reconciliation;

internal sealed record ListDiscrepanciesRequest : PageRequest
{
    [QueryParam] public string? OrganizationId { get; init; }
}

/// <param name="Field"><c>status</c>, <c>price</c>, <c>current_period_end</c>, <c>cancel_at_period_end</c>, or <c>subscription</c> (one side has none);
/// refused events: <c>subscription_conflict</c>, <c>provider</c>, <c>organization</c>, <c>deleted_organization</c>, <c>checkout_reference</c>.</param>
/// <param name="Ours">The local value as text; null when there is none.</param>
/// <param name="Stripe">Stripe's value as text; null when there is none.</param>
/// <param name="Repaired">The local row took Stripe's value (<c>Billing:Reconcile = repair</c>).</param>
/// <param name="Provider"><c>stripe</c> or <c>paddle</c>.</param>
/// <param name="FirstSeenAt">When the drift was first found (one row per subscription and field while it lasts).</param>
/// <param name="LastSeenAt">When it was last found.</param>
/// <param name="Resolved">A later reconciliation found the field equal again.</param>
internal sealed record DiscrepancyResponse(
    string Id,
    string? OrganizationId,
    string ProviderSubscriptionId,
    string Field,
    string? Ours,
    string? Stripe,
    DateTimeOffset FoundAt,
    bool Repaired,
    string Provider,
    DateTimeOffset? FirstSeenAt,
    DateTimeOffset? LastSeenAt,
    bool Resolved,
    DateTimeOffset? ResolvedAt)
{
    /// <summary>The operator's note when it was resolved by hand (<c>POST …/discrepancies/{id}/resolve</c>).</summary>
    public string? ResolutionNote { get; init; }
}

/// <summary><c>GET /v1/admin/billing/discrepancies?organizationId=</c>: what reconciliation found, newest first, paginated.</summary>
internal sealed record DiscrepancyRow
{
    public string Id { get; init; } = "";
    public string? OrganizationId { get; init; }
    public string ProviderSubscriptionId { get; init; } = "";
    public string Field { get; init; } = "";
    public string? Ours { get; init; }
    public string? Stripe { get; init; }
    public DateTimeOffset FoundAt { get; init; }
    public bool Repaired { get; init; }
    public string Provider { get; init; } = "";
    public DateTimeOffset? FirstSeenAt { get; init; }
    public DateTimeOffset? LastSeenAt { get; init; }
    public bool Resolved { get; init; }
    public DateTimeOffset? ResolvedAt { get; init; }
    public string? ResolutionNote { get; init; }

    public DiscrepancyResponse ToResponse() => new(Id, OrganizationId, ProviderSubscriptionId, Field, Ours, Stripe, FoundAt, Repaired,
        Provider, FirstSeenAt, LastSeenAt, Resolved, ResolvedAt) { ResolutionNote = ResolutionNote };
}

internal sealed class ListDiscrepancies(Db db) : Endpoint<ListDiscrepanciesRequest, Page<DiscrepancyResponse>>
{
    public const string Columns =
        "id, organization_id, provider_subscription_id, field, ours, stripe, found_at, repaired, provider, first_seen_at, last_seen_at, resolved, resolved_at, resolution_note";

    public override void Configure()
    {
        Get("/v1/admin/billing/discrepancies");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the differences between local subscriptions and Stripe found by reconciliation (newest first, paginated).");
    }

    public sealed class Validator : Validator<ListDiscrepanciesRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.OrganizationId).MaximumLength(100).WithMessage("organizationId must be at most 100 characters.");
        }
    }

    public override async Task HandleAsync(ListDiscrepanciesRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var parameters = new Dapper.DynamicParameters();
        parameters.Add("organizationId", req.OrganizationId, System.Data.DbType.String);
        var page = await connection.PageAsync<DiscrepancyRow>(
            $"select {Columns} from billing_discrepancies",
            "@organizationId is null or organization_id = @organizationId", parameters, req, r => r.Id, ct);
        await Send.OkAsync(page.Map(r => r.ToResponse()), ct);
    }
}
