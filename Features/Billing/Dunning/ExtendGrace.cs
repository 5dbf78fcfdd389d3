using FastEndpoints;

namespace Backstop.Features.Billing.Dunning;

internal sealed record ExtendGraceRequest
{
    public string Id { get; init; } = "";

    /// <summary>The new end of the grace period: in the future, and later than the current one.</summary>
    public DateTimeOffset? Until { get; init; }

    public sealed class Validator : Validator<ExtendGraceRequest>
    {
        public Validator() =>
            RuleFor(r => r.Until).NotNull().Must(u => u is null || u > Resolve<TimeProvider>().GetUtcNow()).WithMessage("until must be in the future.");
    }
}

/// <summary>
/// <c>POST /v1/admin/organizations/{id}/grace</c>: moves a past-due subscription's grace end later. A subscription
/// the grace expiry already suspended goes back to <c>past_due</c> with the new end (reads and use allowed, creation
/// refused, as any past-due one). See <see cref="IOperatorAccess.ExtendGraceAsync"/>.
/// </summary>
internal sealed class ExtendGrace(IOperatorAccess access) : Endpoint<ExtendGraceRequest, AccessResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{id}/grace");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Extend a past-due (or grace-suspended) organization's grace period.");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(ExtendGraceRequest req, CancellationToken ct) =>
        await Send.OkAsync(AccessResponse.From(await access.ExtendGraceAsync(req.Id, req.Until!.Value, ct)), ct);
}
