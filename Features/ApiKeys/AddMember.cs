using Backstop.Features.Billing;
using Backstop.Features.Quota;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record MemberResponse(
    string Id, string OrganizationId, string? ExternalUserId, string? Email, string? DisplayName, string Role, DateTimeOffset CreatedAt)
{
    public static MemberResponse From(MemberRow r) => new(r.Id, r.OrganizationId, r.ExternalUserId, r.Email, r.DisplayName, r.Role, r.CreatedAt);
}

internal sealed record AddMemberRequest
{
    public string OrgId { get; init; } = "";
    /// <summary>The user's id at the identity provider (Clerk <c>user_…</c>).</summary>
    public string? ExternalUserId { get; init; }
    public string? Email { get; init; }
    public string? DisplayName { get; init; }
    /// <summary>Required: <c>owner</c>, <c>admin</c> or <c>member</c>.</summary>
    public string? Role { get; init; }
}

/// <summary><c>POST /v1/admin/organizations/{orgId}/members</c>.</summary>
internal sealed class AddMember(OrganizationStore organizations, IOrganizationDirectory directory, IAccessGate gate, IUsageMeter usage)
    : Endpoint<AddMemberRequest, MemberResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{orgId}/members");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Add a member (owner, admin or member) to an organization.");
        Description(d => d.Answers<MemberResponse>(201).Problems(402, 403, 404, 409));
    }

    public sealed class Validator : Validator<AddMemberRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Role).NotEmpty().WithMessage("role is required: owner, admin or member.");
            RuleFor(r => r.Role).Must(MemberRoles.IsValid).When(r => !string.IsNullOrEmpty(r.Role)).WithMessage("role must be owner, admin or member.");
            RuleFor(r => r).Must(r => !string.IsNullOrWhiteSpace(r.ExternalUserId) || !string.IsNullOrWhiteSpace(r.Email))
                .WithName("externalUserId").WithMessage("externalUserId or email is required.");
            RuleFor(r => r.ExternalUserId).MaximumLength(200).WithMessage("externalUserId must be at most 200 characters.");
            RuleFor(r => r.Email!).EmailAddress().When(r => r.Email is not null).WithMessage("email must be an email address.")
                .MaximumLength(320).WithMessage("email must be at most 320 characters.");
            RuleFor(r => r.DisplayName).MaximumLength(200).WithMessage("displayName must be at most 200 characters.");
            RuleFor(r => r.DisplayName).NoControlCharacters("displayName");
            RuleFor(r => r.ExternalUserId).NoControlCharacters("externalUserId");
        }
    }

    public override async Task HandleAsync(AddMemberRequest req, CancellationToken ct)
    {
        await gate.EnsureAllowedAsync(req.OrgId, GatedAction.Create, TeamMembers, ct);
        // A plan that does not name the metric leaves members unlimited (still counted).
        var quota = await usage.PrepareAsync(req.OrgId, TeamMembers, requireLimit: false, ct);
        // The gauge is the count of member rows, taken after the insert under the organization's lock (adds are
        // serialised): over the limit, the 403 rolls the new member back, so concurrent adds at limit - 1 admit one.
        var row = await organizations.AddMemberAsync(req.OrgId, NullIfBlank(req.ExternalUserId), NullIfBlank(req.Email), NullIfBlank(req.DisplayName), req.Role!, ct,
            async (c, tx) => await usage.SetGaugeAsync(c, tx, quota, await directory.CountMembersAsync(c, tx, req.OrgId, ct), enforceLimit: true, ct));
        await Send.ResponseAsync(MemberResponse.From(row), 201, ct);
    }

    private const string TeamMembers = "team_members";

    private static string? NullIfBlank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
