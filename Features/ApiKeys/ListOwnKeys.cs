using FastEndpoints;

namespace Backstop.Features.ApiKeys;

/// <summary><c>GET /v1/api-keys</c>: the caller's organization's keys (scope admin).</summary>
internal sealed class ListOwnKeys(ApiKeyStore keys) : Endpoint<ListKeysRequest, Page<ApiKeyResponse>>
{
    public override void Configure()
    {
        Get("/v1/api-keys");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "List the caller's organization's API keys (scope admin).");
    }

    public override async Task HandleAsync(ListKeysRequest req, CancellationToken ct)
    {
        var page = await keys.ListAsync(User.OrganizationId(), req, ct);
        await Send.OkAsync(page, ct);
    }
}
