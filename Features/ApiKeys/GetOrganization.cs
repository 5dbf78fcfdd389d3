using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Security;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record OrganizationIdRequest
{
    public string OrgId { get; init; } = "";
}

/// <summary><c>GET /v1/admin/organizations/{orgId}</c>.</summary>
internal sealed class GetOrganization(OrganizationStore organizations) : Endpoint<OrganizationIdRequest, OrganizationResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{orgId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Get an organization.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(OrganizationIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(OrganizationResponse.From(await organizations.GetAsync(req.OrgId, ct)), ct);
}
