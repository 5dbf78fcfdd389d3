using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record UpdateOrganizationRequest
{
    public string OrgId { get; init; } = "";
    public string Name { get; init; } = "";
}

/// <summary><c>PATCH /v1/admin/organizations/{orgId}</c>: renames the organization (the slug stays).</summary>
internal sealed class UpdateOrganization(OrganizationStore organizations) : Endpoint<UpdateOrganizationRequest, OrganizationResponse>
{
    public override void Configure()
    {
        Patch("/v1/admin/organizations/{orgId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Rename an organization.");
        Description(d => d.Problems(404));
    }

    public sealed class Validator : Validator<UpdateOrganizationRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name).NotEmpty().WithMessage("name is required.").MaximumLength(200).WithMessage("name must be at most 200 characters.");
            RuleFor(r => r.Name).NoControlCharacters("name");
        }
    }

    public override async Task HandleAsync(UpdateOrganizationRequest req, CancellationToken ct) =>
        await Send.OkAsync(OrganizationResponse.From(await organizations.RenameAsync(req.OrgId, OrganizationStore.Normalize(req.Name), ct)), ct);
}
