using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record ListKeysRequest : PageRequest
{
    // Bound from the admin route only; the tenant route takes the caller's organization, so it is no query parameter.
    [HideFromDocs] public string OrgId { get; init; } = "";
}

/// <summary><c>GET /v1/admin/organizations/{orgId}/api-keys</c>: every key (live, revoked, expired), newest first.</summary>
internal sealed class ListKeys(OrganizationStore organizations, ApiKeyStore keys) : Endpoint<ListKeysRequest, Page<ApiKeyResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/organizations/{orgId}/api-keys");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List an organization's API keys (never their secrets).");
        Description(d => d.Problems(404));
    }

    /// <summary>Also validates <see cref="ListOwnKeys"/>'s requests: FastEndpoints picks validators by request type.</summary>
    public sealed class Validator : FastEndpoints.Validator<ListKeysRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListKeysRequest req, CancellationToken ct)
    {
        await organizations.GetAsync(req.OrgId, ct);
        var page = await keys.ListAsync(req.OrgId, req, ct);
        await Send.OkAsync(page, ct);
    }
}
