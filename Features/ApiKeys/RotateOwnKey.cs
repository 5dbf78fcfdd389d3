using FastEndpoints;

namespace Backstop.Features.ApiKeys;

/// <summary><c>POST /v1/api-keys/{keyId}/rotate</c>: rotates a key of the caller's organization (scope admin).</summary>
internal sealed class RotateOwnKey(ApiKeyStore keys) : Endpoint<RotateKeyRequest, CreatedApiKeyResponse>
{
    public override void Configure()
    {
        Post("/v1/api-keys/{keyId}/rotate");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Rotate an API key of the caller's organization (scope admin).");
        Description(d => d.Answers<CreatedApiKeyResponse>(201).Problems(404, 409));
    }

    public override async Task HandleAsync(RotateKeyRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await keys.RotateAsync(User.OrganizationId(), req.KeyId, req.ExpiresAt, req.OverlapMinutes, ct), 201, ct);
    }
}
