using Backstop.Features.Quota;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record RemoveMemberRequest
{
    public string OrgId { get; init; } = "";
    public string MemberId { get; init; } = "";
}

/// <summary><c>DELETE /v1/admin/organizations/{orgId}/members/{memberId}</c>.</summary>
internal sealed class RemoveMember(OrganizationStore organizations, IOrganizationDirectory directory, IUsageMeter usage) : Endpoint<RemoveMemberRequest>
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
        // The member's slot is given back in the removal's transaction: the gauge is set to the count of the member
        // rows left (never below what exists, whatever was counted before), without the limit (a removal always succeeds).
        var quota = await usage.PrepareAsync(req.OrgId, "team_members", requireLimit: false, ct);
        await organizations.RemoveMemberAsync(req.OrgId, req.MemberId, ct,
            async (c, tx) => await usage.SetGaugeAsync(c, tx, quota, await directory.CountMembersAsync(c, tx, req.OrgId, ct), enforceLimit: false, ct));
        await Send.NoContentAsync(ct);
    }
}
