using FastEndpoints;

namespace Backstop.Features.Billing.Plans;

internal sealed record PlanCodeRequest
{
    public string Code { get; init; } = "";
}

/// <summary><c>GET /v1/admin/plans/{code}</c>.</summary>
internal sealed class GetPlan(PlanStore plans) : Endpoint<PlanCodeRequest, PlanResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/plans/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Get a plan by its code.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(PlanCodeRequest req, CancellationToken ct) =>
        await Send.OkAsync(PlanResponse.From(await plans.GetAsync(req.Code, ct)), ct);
}
