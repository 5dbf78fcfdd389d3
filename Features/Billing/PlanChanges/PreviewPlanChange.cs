using FastEndpoints;

namespace Backstop.Features.Billing.PlanChanges;

internal sealed record PreviewPlanChangeRequest
{
    /// <summary>The plan code to preview a change to.</summary>
    [QueryParam] public string? Plan { get; init; }
}

/// <summary>
/// <c>GET /v1/billing/plan-change?plan=X</c>: what changing to plan X would do: <c>direction</c> (upgrade|downgrade),
/// <c>effectiveAt</c>, for an upgrade Stripe's prorated amount (or null with a reason), for a downgrade every violation
/// it would cause (<c>{type, current, limit, action, sentence}</c>). Changes nothing.
/// </summary>
internal sealed class PreviewPlanChange(PlanChanger changer) : Endpoint<PreviewPlanChangeRequest, PlanChangePreview>
{
    public override void Configure()
    {
        Get("/v1/billing/plan-change");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "Preview a plan change: upgrade or downgrade, when, the proration of an upgrade, the violations of a downgrade.");
        Description(d => d.Problems(404));
    }

    public sealed class Validator : Validator<PreviewPlanChangeRequest>
    {
        public Validator() =>
            RuleFor(r => r.Plan).NotEmpty().WithMessage("plan (a plan code) is required.").MaximumLength(100).WithMessage("plan must be at most 100 characters.");
    }

    public override async Task HandleAsync(PreviewPlanChangeRequest req, CancellationToken ct) =>
        await Send.OkAsync(await changer.PreviewAsync(User.OrganizationId(), req.Plan!, ct), ct);
}
