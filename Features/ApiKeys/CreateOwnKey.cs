using FastEndpoints;

namespace Backstop.Features.ApiKeys;

/// <summary><c>POST /v1/api-keys</c>: an <c>admin</c>-scoped key creates a key of its own organization.</summary>
internal sealed class CreateOwnKey(ApiKeyStore keys) : Endpoint<CreateKeyRequest, CreatedApiKeyResponse>
{
    public override void Configure()
    {
        Post("/v1/api-keys");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Create an API key of the caller's organization (scope admin).");
        Description(d => d.Answers<CreatedApiKeyResponse>(201));
    }

    public override async Task HandleAsync(CreateKeyRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await keys.CreateAsync(User.OrganizationId(), req.Name.Trim(), req.Scopes, req.ExpiresAt, ct), 201, ct);
    }
}
