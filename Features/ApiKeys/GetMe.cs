using System.Security.Claims;
using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;
using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record MeResponse(MeResponse.OrganizationPart Organization, MeResponse.KeyPart Key)
{
    public sealed record OrganizationPart(string Id, string Slug, string Name);

    public sealed record KeyPart(string Id, string Prefix, IReadOnlyList<string> Scopes);
}

/// <summary><c>GET /v1/me</c>: who the presented key is.</summary>
internal sealed class GetMe(Infrastructure.Data.Db db, OrganizationStore organizations) : EndpointWithoutRequest<MeResponse>
{
    public override void Configure()
    {
        Get("/v1/me");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "The caller's organization and key.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var org = await organizations.FindAsync(connection, User.OrganizationId(), ct) ?? throw ProblemException.NotFound("Organization");
        var scopes = User.FindAll(BackstopClaims.Scope).Select(c => c.Value).ToList();
        await Send.OkAsync(new MeResponse(new(org.Id, org.Slug, org.Name), new(User.KeyId(), User.FindFirstValue(ClaimTypes.Name) ?? "", scopes)), ct);
    }
}
