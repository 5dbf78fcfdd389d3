using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Security;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record RemoveMemberRequest
{
    public string OrgId { get; init; } = "";
    public string MemberId { get; init; } = "";
}

/// <summary><c>DELETE /v1/admin/organizations/{orgId}/members/{memberId}</c>.</summary>
internal sealed class RemoveMember(OrganizationStore organizations) : Endpoint<RemoveMemberRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/organizations/{orgId}/members/{memberId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Remove a member from an organization.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(RemoveMemberRequest req, CancellationToken ct)
    {
        await organizations.RemoveMemberAsync(req.OrgId, req.MemberId, ct);
        await Send.NoContentAsync(ct);
    }
}
