using FastEndpoints;

namespace Backstop.Features.Billing.Plans;

/// <param name="Deleted">True: the plan is gone. False: subscriptions (of any status) reference it, so it was deactivated and is in <paramref name="Plan"/>.</param>
internal sealed record DeletePlanResponse(string Code, bool Deleted, PlanResponse? Plan);

/// <summary>
/// <c>DELETE /v1/admin/plans/{code}</c>: a plan no subscription ever referenced is deleted; otherwise it is
/// deactivated (kept for its subscriptions' history), which is refused while live subscriptions are on it.
/// </summary>
internal sealed class DeletePlan(PlanStore plans) : Endpoint<PlanCodeRequest, DeletePlanResponse>
{
    public override void Configure()
    {
        Delete("/v1/admin/plans/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Delete a plan never subscribed to, or deactivate one that has subscriptions (refused while any is live).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(PlanCodeRequest req, CancellationToken ct)
    {
        var (deleted, plan) = await plans.DeleteAsync(req.Code, ct);
        await Send.OkAsync(new DeletePlanResponse(req.Code, deleted, plan is null ? null : PlanResponse.From(plan)), ct);
    }
}
