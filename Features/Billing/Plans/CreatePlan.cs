using FastEndpoints;

namespace Backstop.Features.Billing.Plans;

internal sealed record CreatePlanRequest
{
    public string Code { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>Stripe's recurring price (<c>price_…</c>); none for a free plan, which cannot be bought through checkout.</summary>
    public string? StripePriceId { get; init; }
    /// <summary>Paddle's price (<c>pri_…</c>): Paddle subscriptions find their plan by it.</summary>
    public string? PaddlePriceId { get; init; }
    public int? TrialDays { get; init; }
    /// <summary>Metric → limit; <c>-1</c> is unlimited.</summary>
    public Dictionary<string, long>? Limits { get; init; }
    public bool? Active { get; init; }
}

/// <summary><c>POST /v1/admin/plans</c>: a plan, addressed by its code from then on.</summary>
internal sealed class CreatePlan(PlanStore plans, Quota.IMetricCatalog metrics, TimeProvider time) : Endpoint<CreatePlanRequest, PlanResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/plans");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Create a plan (code, name, Stripe and Paddle prices, trial days, limits).");
        Description(d => d.Answers<PlanResponse>(201).Problems(400, 409));
    }

    public sealed class Validator : Validator<CreatePlanRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Code).Matches(PlanRules.CodePattern()).WithErrorCode("invalid_plan_code")
                .WithMessage("code must be 1-48 lowercase letters, digits, '_' or '-', starting with a letter or digit.");
            RuleFor(r => r.Name).NotEmpty().WithMessage("name is required.").MaximumLength(200).WithMessage("name must be at most 200 characters.");
            RuleFor(r => r.Name).NoControlCharacters("name");
            RuleFor(r => r.StripePriceId!).Must(p => PlanRules.IsPriceId(p, "price_")).When(r => r.StripePriceId is not null)
                .WithErrorCode("invalid_price").WithMessage("stripePriceId must be a Stripe price id ('price_…').");
            RuleFor(r => r.PaddlePriceId!).Must(p => PlanRules.IsPriceId(p, "pri_")).When(r => r.PaddlePriceId is not null)
                .WithErrorCode("invalid_price").WithMessage("paddlePriceId must be a Paddle price id ('pri_…').");
            RuleFor(r => r.TrialDays).InclusiveBetween(0, 730).When(r => r.TrialDays is not null)
                .WithErrorCode("invalid_trial_days").WithMessage("trialDays must be between 0 and 730.");
            RuleFor(r => r.Limits).Custom((limits, context) =>
            {
                foreach (var problem in PlanRules.LimitProblems(limits ?? []))
                    context.AddFailure(new FluentValidation.Results.ValidationFailure("limits", problem) { ErrorCode = "invalid_limits" });
            });
        }
    }

    public override async Task HandleAsync(CreatePlanRequest req, CancellationToken ct)
    {
        await PlanRules.EnsureDeclaredAsync(metrics, req.Limits, ct);
        var now = time.GetUtcNow();
        var row = await plans.CreateAsync(new PlanRecord
        {
            Code = req.Code, Name = req.Name.Trim(), StripePriceId = req.StripePriceId, PaddlePriceId = req.PaddlePriceId,
            TrialDays = req.TrialDays ?? 0, Limits = PlanStore.SerializeLimits(req.Limits ?? []), Active = req.Active ?? true,
            CreatedAt = now, UpdatedAt = now,
        }, ct);
        await Send.ResponseAsync(PlanResponse.From(row), 201, ct);
    }
}
