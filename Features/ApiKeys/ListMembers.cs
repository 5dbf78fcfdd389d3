using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record ListMembersRequest : PageRequest
{
    public string OrgId { get; init; } = "";
}

/// <summary><c>GET /v1/admin/organizations/{orgId}/members</c>: current members, newest first, paginated.</summary>
internal sealed class ListMembers(OrganizationStore organizations) : Endpoint<ListMembersRequest, Page<MemberResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{orgId}/members");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the members of an organization.");
        Description(d => d.Problems(404));
    }

    public sealed class Validator : FastEndpoints.Validator<ListMembersRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListMembersRequest req, CancellationToken ct)
    {
        var page = await organizations.ListMembersAsync(req.OrgId, req, ct);
        await Send.OkAsync(page.Map(MemberResponse.From), ct);
    }
}
