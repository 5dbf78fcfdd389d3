using FastEndpoints;

namespace Backstop.Features.Billing.Plans;

internal sealed record UpdatePlanRequest
{
    public string Code { get; init; } = "";
    public string? Name { get; init; }
    /// <summary>An empty string removes the price (the plan is then free).</summary>
    public string? StripePriceId { get; init; }
    /// <summary>An empty string removes the price.</summary>
    public string? PaddlePriceId { get; init; }
    public int? TrialDays { get; init; }
    /// <summary>Replaces the plan's limits as a whole.</summary>
    public Dictionary<string, long>? Limits { get; init; }
    /// <summary><c>false</c> deactivates the plan: refused with 409 <c>plan_in_use</c> while live subscriptions are on it.</summary>
    public bool? Active { get; init; }
}

/// <summary><c>PATCH /v1/admin/plans/{code}</c>: changes the fields given; the others stay.</summary>
internal sealed class UpdatePlan(PlanStore plans, Quota.IMetricCatalog metrics) : Endpoint<UpdatePlanRequest, PlanResponse>
{
    public override void Configure()
    {
        Patch("/v1/admin/plans/{code}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Change a plan (name, prices, trial days, limits, active); deactivating one with live subscriptions is refused.");
        Description(d => d.Problems(400, 404, 409));
    }

    public sealed class Validator : Validator<UpdatePlanRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name!).NotEmpty().WithMessage("name must not be empty.").MaximumLength(200).WithMessage("name must be at most 200 characters.")
                .When(r => r.Name is not null);
            RuleFor(r => r.Name!).NoControlCharacters("name").When(r => r.Name is not null);
            RuleFor(r => r.StripePriceId!).Must(p => p.Length == 0 || PlanRules.IsPriceId(p, "price_")).When(r => r.StripePriceId is not null)
                .WithErrorCode("invalid_price").WithMessage("stripePriceId must be a Stripe price id ('price_…'), or empty to remove it.");
            RuleFor(r => r.PaddlePriceId!).Must(p => p.Length == 0 || PlanRules.IsPriceId(p, "pri_")).When(r => r.PaddlePriceId is not null)
                .WithErrorCode("invalid_price").WithMessage("paddlePriceId must be a Paddle price id ('pri_…'), or empty to remove it.");
            RuleFor(r => r.TrialDays).InclusiveBetween(0, 730).When(r => r.TrialDays is not null)
                .WithErrorCode("invalid_trial_days").WithMessage("trialDays must be between 0 and 730.");
            RuleFor(r => r.Limits).Custom((limits, context) =>
            {
                foreach (var problem in PlanRules.LimitProblems(limits ?? []))
                    context.AddFailure(new FluentValidation.Results.ValidationFailure("limits", problem) { ErrorCode = "invalid_limits" });
            });
        }
    }

    public override async Task HandleAsync(UpdatePlanRequest req, CancellationToken ct)
    {
        await PlanRules.EnsureDeclaredAsync(metrics, req.Limits, ct);
        await Send.OkAsync(PlanResponse.From(await plans.UpdateAsync(req.Code,
            new PlanStore.Patch(req.Name?.Trim(), req.StripePriceId, req.PaddlePriceId, req.TrialDays, req.Limits, req.Active), ct)), ct);
    }
}
