using FastEndpoints;

// The endpoint's namespace is the slice's: the API reference tags an operation with its namespace's last segment.
namespace Backstop.Features.Billing;

/// <param name="State">The subscription's status (<c>active</c>, <c>trialing</c>, <c>past_due</c>, <c>suspended</c>, <c>paused</c>, <c>canceled</c>, …) or <c>none</c>.</param>
/// <param name="Plan">The plan in force: the subscription's, or the default plan.</param>
/// <param name="CanCreate">Creating meetings, bots, members is allowed (not while past due, suspended or paused).</param>
/// <param name="CanUse">Other gated use is allowed (not while suspended or paused).</param>
/// <param name="RefusalCode">The problem code a refused action answers: <c>payment_past_due</c>, <c>subscription_suspended</c>, <c>subscription_paused</c>.</param>
internal sealed record AccessResponse(
    string State,
    string Plan,
    bool CanCreate,
    bool CanUse,
    string? RefusalCode,
    string? RefusalDetail,
    DateTimeOffset? GraceEndsAt,
    string? UpdatePaymentUrl,
    IReadOnlyList<ViolationSummary> Violations)
{
    /// <summary>An operator lifted the suspension until then: admitted whatever the payment state.</summary>
    public DateTimeOffset? SuspensionLiftedUntil { get; init; }

    public static AccessResponse From(AccessStatus a) =>
        new(a.State, a.PlanCode, a.CanCreate, a.CanUse, a.RefusalCode, a.RefusalDetail, a.GraceEndsAt, a.UpdatePaymentUrl, a.Violations)
        {
            SuspensionLiftedUntil = a.SuspensionLiftedUntil,
        };
}

/// <summary><c>GET /v1/billing/access</c>: what the caller's organization may do now, as every gated action decides it.</summary>
internal sealed class GetAccess(IAccessGate gate) : EndpointWithoutRequest<AccessResponse>
{
    public override void Configure()
    {
        Get("/v1/billing/access");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "The organization's access: subscription state, plan in force, whether it may create and use, and why not.");
        Description(d => d.Answers<AccessResponse>());
    }

    public override async Task HandleAsync(CancellationToken ct) =>
        await Send.OkAsync(AccessResponse.From(await gate.GetAsync(User.OrganizationId(), ct)), ct);
}
