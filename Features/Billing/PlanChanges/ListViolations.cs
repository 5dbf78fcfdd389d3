using FastEndpoints;

namespace Backstop.Features.Billing.PlanChanges;

/// <param name="Blocking">Creation of the metric is refused now (a storage grace that has not ended is not blocking yet).</param>
internal sealed record ViolationResponse(string Type, string Metric, long Current, long Limit, string Action, string Sentence, string Plan,
    DateTimeOffset DetectedAt, DateTimeOffset? GraceEndsAt, bool Blocking);

internal sealed record ListViolationsResponse(IReadOnlyList<ViolationResponse> Violations);

/// <summary><c>GET /v1/billing/violations</c>: the organization's open plan violations.</summary>
internal sealed class ListViolations(Db db, TimeProvider time) : EndpointWithoutRequest<ListViolationsResponse>
{
    public override void Configure()
    {
        Get("/v1/billing/violations");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "The organization's open plan violations (stored when a downgrade took effect).");
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var now = time.GetUtcNow();
        var open = await PlanViolations.OpenAsync(connection, null, User.OrganizationId(), ct);
        await Send.OkAsync(new ListViolationsResponse(open.Select(v => new ViolationResponse(v.Type, v.Metric, v.CurrentUsage, v.LimitValue, v.Action,
            v.Sentence, v.PlanCode, v.DetectedAt, v.GraceEndsAt, v.BlockingAt(now))).ToList()), ct);
    }
}
