using FastEndpoints;

namespace Backstop.Features.Billing;

internal sealed record LiftSuspensionRequest
{
    public string Id { get; init; } = "";

    /// <summary>For how many days from now the organization is admitted (1 to 90).</summary>
    public int Days { get; init; }

    /// <summary>Why (kept in the lift and the audit log).</summary>
    public string Reason { get; init; } = "";

    public sealed class Validator : Validator<LiftSuspensionRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Days).InclusiveBetween(1, AccessOverrides.MaxDays);
            RuleFor(r => r.Reason).NotEmpty().MaximumLength(500);
        }
    }
}

/// <param name="Until">The gate admits the organization until then, whatever its payment state.</param>
internal sealed record LiftSuspensionResponse(string OrganizationId, DateTimeOffset Until, string Reason, AccessResponse Access);

/// <summary>
/// <c>POST /v1/admin/organizations/{id}/suspension-lift</c>: lets a past-due, suspended or unpaid organization in for
/// N days (a pause stays a pause: the customer asked for it). The subscription is not touched: when the lift ends
/// the gate decides from the payment state again. See <see cref="IOperatorAccess.LiftSuspensionAsync"/>.
/// </summary>
internal sealed class LiftSuspension(IOperatorAccess access) : Endpoint<LiftSuspensionRequest, LiftSuspensionResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{id}/suspension-lift");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Admit an organization for N days whatever its payment state (an operator's lift of a suspension).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(LiftSuspensionRequest req, CancellationToken ct)
    {
        var lift = await access.LiftSuspensionAsync(req.Id, req.Days, req.Reason.Trim(), ct);
        await Send.OkAsync(new LiftSuspensionResponse(lift.OrganizationId, lift.Until, lift.Reason, AccessResponse.From(lift.Access)), ct);
    }
}
