using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record ListOrganizationsRequest : PageRequest;

/// <summary><c>GET /v1/admin/organizations</c>: live organizations, newest first, paginated.</summary>
internal sealed class ListOrganizations(OrganizationStore organizations) : Endpoint<ListOrganizationsRequest, Page<OrganizationResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List organizations (newest first, paginated).");
    }

    public sealed class Validator : FastEndpoints.Validator<ListOrganizationsRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListOrganizationsRequest req, CancellationToken ct)
    {
        var page = await organizations.ListAsync(req, ct);
        await Send.OkAsync(page.Map(OrganizationResponse.From), ct);
    }
}
