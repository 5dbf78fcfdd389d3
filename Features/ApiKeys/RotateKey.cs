using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record RotateKeyRequest
{
    [RouteParam] public string OrgId { get; init; } = "";
    [RouteParam] public string KeyId { get; init; } = "";
    /// <summary>Expiry of the new key; none by default.</summary>
    [QueryParam] public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>How long the old key keeps working; default <c>ApiKeys:RotationOverlapMinutes</c> (24 h).</summary>
    [QueryParam] public int? OverlapMinutes { get; init; }
}

/// <summary><c>POST /v1/admin/organizations/{orgId}/api-keys/{keyId}/rotate</c>: a new key; the old one works until the overlap ends.</summary>
internal sealed class RotateKey(OrganizationStore organizations, ApiKeyStore keys) : Endpoint<RotateKeyRequest, CreatedApiKeyResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{orgId}/api-keys/{keyId}/rotate");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Rotate an API key: returns the new key; the old one keeps working for the overlap.");
        Description(d => d.Answers<CreatedApiKeyResponse>(201).Problems(404, 409));
    }

    public sealed class Validator : Validator<RotateKeyRequest>
    {
        public Validator()
        {
            RuleFor(r => r.ExpiresAt).Must(e => e is null || e > Resolve<TimeProvider>().GetUtcNow())
                .WithMessage("expiresAt must be in the future.");
            RuleFor(r => r.OverlapMinutes).InclusiveBetween(0, 60 * 24 * 90).When(r => r.OverlapMinutes is not null)
                .WithMessage("overlapMinutes must be between 0 and 129600 (90 days).");
        }
    }

    public override async Task HandleAsync(RotateKeyRequest req, CancellationToken ct)
    {
        await organizations.GetAsync(req.OrgId, ct);
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await keys.RotateAsync(req.OrgId, req.KeyId, req.ExpiresAt, req.OverlapMinutes, ct), 201, ct);
    }
}
