using System.Security.Claims;
using System.Text.Json.Serialization;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record MeResponse(MeResponse.OrganizationPart Organization, MeResponse.KeyPart Key)
{
    public sealed record OrganizationPart(string Id, string Slug, string Name);

    public sealed record KeyPart(string Id, string Prefix, IReadOnlyList<string> Scopes);
}

/// <summary>
/// The response of <c>GET /v1/me</c>, serialised by generated code: the endpoint every client calls to check its key
/// answers without the serializer's reflection-based metadata path. Same names and escaping as every other response
/// (web defaults: camelCase, nulls written); it holds no enum, so the enum converter of the others is not needed.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(MeResponse))]
internal sealed partial class MeJsonContext : JsonSerializerContext;

/// <summary>
/// <c>GET /v1/me</c>: who the presented key is. Answered from the key the request was authenticated with, which
/// the authenticator read together with its organization (now, or within ApiKeys:CacheSeconds on this instance: a
/// rename or deletion through this instance is seen at once, one through another instance within that interval).
/// </summary>
internal sealed class GetMe(Infrastructure.Data.Db db, OrganizationStore organizations) : EndpointWithoutRequest<MeResponse>
{
    public override void Configure()
    {
        Get("/v1/me");
        Policies(BackstopPolicies.Read);
        SerializerContext(MeJsonContext.Default);
        Summary(s => s.Summary = "The caller's organization and key.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        if (HttpContext.Features.Get<AuthenticatedKey>()?.Key is { } verified && verified.OrganizationId == User.OrganizationId())
        {
            // The record the principal was made from: its scopes are the principal's scope claims.
            await Send.OkAsync(new MeResponse(new(verified.OrganizationId, verified.OrganizationSlug, verified.OrganizationName),
                new(verified.Id, verified.Prefix, ApiKeyStore.SplitScopes(verified.Scopes))), ct);
            return;
        }
        // A principal that did not come from the key authenticator (none does today): its claims, and the organization read.
        var scopes = User.FindAll(BackstopClaims.Scope).Select(c => c.Value).ToList();
        var key = new MeResponse.KeyPart(User.KeyId(), User.FindFirstValue(ClaimTypes.Name) ?? "", scopes);
        await using var connection = await db.OpenAsync(ct);
        var org = await organizations.FindAsync(connection, User.OrganizationId(), ct) ?? throw ProblemException.NotFound("Organization");
        await Send.OkAsync(new MeResponse(new(org.Id, org.Slug, org.Name), key), ct);
    }
}
