using FastEndpoints;

namespace Backstop.Features.ApiKeys;

/// <summary><c>DELETE /v1/admin/organizations/{orgId}</c>: soft-deletes it; its keys stop working at once.</summary>
internal sealed class DeleteOrganization(OrganizationStore organizations) : Endpoint<OrganizationIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/organizations/{orgId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Delete an organization (soft); its API keys are revoked.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(OrganizationIdRequest req, CancellationToken ct)
    {
        await organizations.DeleteAsync(req.OrgId, ct);
        await Send.NoContentAsync(ct);
    }
}
