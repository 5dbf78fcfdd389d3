using FastEndpoints;

namespace Backstop.Features.Billing.PlanChanges;

internal sealed record RequestPlanChangeRequest
{
    public string Plan { get; init; } = "";
    /// <summary>A coupon to redeem with the change (applied by Stripe to the new price).</summary>
    public string? CouponCode { get; init; }
    /// <summary>For an upgrade: the preview's <c>prorationDate</c>, so the charge is the previewed amount (default: now).</summary>
    public DateTimeOffset? ProrationDate { get; init; }
}

/// <summary>
/// <c>POST /v1/billing/plan-change {plan, couponCode?, prorationDate?}</c> (scope admin): an upgrade applies at once
/// once Stripe charged the prorated invoice (declined: 402 <c>payment_failed</c> with <c>paymentUrl</c>, plan unchanged),
/// replaces a pending downgrade, and clears stored violations; a downgrade is scheduled for the end of the paid period
/// or of the trial (<c>pendingChange</c>), or refused with 409 <c>downgrade_blocked</c> under
/// <c>Billing:DowngradePolicy=refuse</c> when it would violate the new plan.
/// </summary>
internal sealed class RequestPlanChange(PlanChanger changer) : Endpoint<RequestPlanChangeRequest, PlanChangeResult>
{
    public override void Configure()
    {
        Post("/v1/billing/plan-change");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Change plan: an upgrade at once (the proration invoiced and charged now), a downgrade at the end of the paid period.");
        Description(d => d.Problems(400, 402, 404, 409, 502, 503));
    }

    public sealed class Validator : Validator<RequestPlanChangeRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Plan).NotEmpty().WithMessage("plan (a plan code) is required.").MaximumLength(100).WithMessage("plan must be at most 100 characters.");
            RuleFor(r => r.CouponCode).MaximumLength(64).WithMessage("couponCode must be at most 64 characters.")
                .Matches("^[A-Za-z0-9_-]+$").When(r => !string.IsNullOrEmpty(r.CouponCode)).WithMessage("couponCode may hold letters, digits, '-' and '_' only.");
        }
    }

    public override async Task HandleAsync(RequestPlanChangeRequest req, CancellationToken ct) =>
        await Send.OkAsync(await changer.RequestAsync(User.OrganizationId(), req.Plan, string.IsNullOrWhiteSpace(req.CouponCode) ? null : req.CouponCode, req.ProrationDate, ct), ct);
}
