using FastEndpoints;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary><c>DELETE /v1/billing/plan-change</c> (scope admin): cancels the scheduled downgrade (the Stripe schedule is released; the plan stays).</summary>
internal sealed class CancelPlanChange(PlanChanger changer) : EndpointWithoutRequest
{
    public override void Configure()
    {
        Delete("/v1/billing/plan-change");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Cancel the scheduled plan change.");
        Description(d => d.AnswersNoContent().Problems(404, 409, 502, 503));
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        await changer.CancelAsync(User.OrganizationId(), ct);
        await Send.NoContentAsync(ct);
    }
}
