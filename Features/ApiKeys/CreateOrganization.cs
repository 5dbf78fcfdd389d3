using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record CreateOrganizationRequest
{
    public string Name { get; init; } = "";
    public string? Slug { get; init; }
}

/// <summary><c>POST /v1/admin/organizations</c>: creates a tenant; without a slug one is derived from the name.</summary>
internal sealed class CreateOrganization(OrganizationStore organizations) : Endpoint<CreateOrganizationRequest, OrganizationResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Create an organization (tenant).");
        Description(d => d.Answers<OrganizationResponse>(201).Problems(409));
    }

    public sealed class Validator : Validator<CreateOrganizationRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name).NotEmpty().WithMessage("name is required.").MaximumLength(200).WithMessage("name must be at most 200 characters.");
            RuleFor(r => r.Name).NoControlCharacters("name");
            RuleFor(r => r.Slug!).Matches(OrganizationStore.SlugPattern()).When(r => r.Slug is not null)
                .WithMessage("slug must be 1-48 lowercase letters, digits and inner hyphens.");
        }
    }

    public override async Task HandleAsync(CreateOrganizationRequest req, CancellationToken ct)
    {
        var row = await organizations.CreateAsync(OrganizationStore.Normalize(req.Name), req.Slug, ct);
        await Send.ResponseAsync(OrganizationResponse.From(row), 201, ct);
    }
}
