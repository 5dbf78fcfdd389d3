using FastEndpoints;

namespace Backstop.Features.ApiKeys;

/// <summary><c>DELETE /v1/api-keys/{keyId}</c>: revokes a key of the caller's organization (another's: 404).</summary>
internal sealed class RevokeOwnKey(ApiKeyStore keys) : Endpoint<KeyIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/api-keys/{keyId}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Revoke an API key of the caller's organization (scope admin).");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(KeyIdRequest req, CancellationToken ct)
    {
        await keys.RevokeAsync(User.OrganizationId(), req.KeyId, ct);
        await Send.NoContentAsync(ct);
    }
}
