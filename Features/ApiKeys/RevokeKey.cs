using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record KeyIdRequest
{
    public string OrgId { get; init; } = "";
    public string KeyId { get; init; } = "";
}

/// <summary><c>DELETE /v1/admin/organizations/{orgId}/api-keys/{keyId}</c>: the key answers 401 from now on.</summary>
internal sealed class RevokeKey(OrganizationStore organizations, ApiKeyStore keys) : Endpoint<KeyIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/organizations/{orgId}/api-keys/{keyId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Revoke an API key.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(KeyIdRequest req, CancellationToken ct)
    {
        await organizations.GetAsync(req.OrgId, ct);
        await keys.RevokeAsync(req.OrgId, req.KeyId, ct);
        await Send.NoContentAsync(ct);
    }
}
