using Backstop.Features.Billing.Dunning;
using FastEndpoints;

// The endpoint's namespace is the slice's: the API reference tags an operation with its namespace's last segment.
namespace Backstop.Features.Billing;

internal sealed record ListDisputesRequest : PageRequest
{
    [QueryParam] public string? OrganizationId { get; init; }

    /// <summary>Stripe's dispute status (<c>needs_response</c>, <c>under_review</c>, <c>won</c>, <c>lost</c>, …).</summary>
    [QueryParam] public string? Status { get; init; }

    public sealed class Validator : Validator<ListDisputesRequest>
    {
        public Validator()
        {
            this.AddPagingRules();
            RuleFor(r => r.OrganizationId).MaximumLength(100).WithMessage("organizationId must be at most 100 characters.");
            RuleFor(r => r.Status).MaximumLength(50).WithMessage("status must be at most 50 characters.");
        }
    }
}

/// <param name="OrganizationId">Null when the dispute's charge could not be tied to an organization.</param>
/// <param name="OpenedAt">When the customer opened the dispute (Stripe's <c>created</c>).</param>
/// <param name="ClosedAt">When Stripe reported it closed; null while open.</param>
internal sealed record DisputeView(
    string Id,
    string Provider,
    string ProviderDisputeId,
    string? ChargeId,
    string? CustomerId,
    string? OrganizationId,
    long Amount,
    string Currency,
    string? Reason,
    string Status,
    DateTimeOffset OpenedAt,
    DateTimeOffset? ClosedAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

internal sealed record ListDisputesResponse(IReadOnlyList<DisputeView> Items, string? NextCursor);

/// <summary><c>GET /v1/admin/billing/disputes?organizationId=&amp;status=</c>: chargebacks recorded from Stripe, newest first, paginated.</summary>
internal sealed class ListDisputes(Db db) : Endpoint<ListDisputesRequest, ListDisputesResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/billing/disputes");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Payment disputes (chargebacks) reported by Stripe, with organization, amount, reason and status (newest first, paginated).");
        Description(d => d.Answers<ListDisputesResponse>());
    }

    public override async Task HandleAsync(ListDisputesRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var page = await connection.PageAsync<DisputeRow>($"select {DunningSql.DisputeColumns} from billing_disputes",
            "(@OrganizationId is null or organization_id = @OrganizationId) and (@Status is null or status = @Status)",
            new { req.OrganizationId, Status = req.Status?.Trim().ToLowerInvariant() }, req, r => r.Id, ct);
        await Send.OkAsync(new ListDisputesResponse(page.Items.Select(r => r.ToView()).ToList(), page.NextCursor), ct);
    }
}

/// <summary>A row of <c>billing_disputes</c> (<see cref="DunningSql.DisputeColumns"/>), as the list and the dispute events show it.</summary>
internal sealed record DisputeRow
{
    public string Id { get; init; } = "";
    public string Provider { get; init; } = "";
    public string ProviderDisputeId { get; init; } = "";
    public string? ChargeId { get; init; }
    public string? CustomerId { get; init; }
    public string? OrganizationId { get; init; }
    public long Amount { get; init; }
    public string Currency { get; init; } = "";
    public string? Reason { get; init; }
    public string Status { get; init; } = "";
    public DateTimeOffset OpenedAt { get; init; }
    public DateTimeOffset? ClosedAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public DisputeView ToView() =>
        new(Id, Provider, ProviderDisputeId, ChargeId, CustomerId, OrganizationId, Amount, Currency, Reason, Status, OpenedAt, ClosedAt, CreatedAt, UpdatedAt);
}
