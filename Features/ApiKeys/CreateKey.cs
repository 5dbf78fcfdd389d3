using FastEndpoints;

namespace Backstop.Features.ApiKeys;

internal sealed record CreateKeyRequest
{
    /// <summary>Route value of the admin endpoint; the tenant endpoint always uses the caller's organization.</summary>
    public string OrgId { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary><c>read</c>, <c>write</c>, <c>admin</c>; default <c>["read","write"]</c>.</summary>
    public List<string>? Scopes { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary><c>POST /v1/admin/organizations/{orgId}/api-keys</c>: the key is in this response only.</summary>
internal sealed class CreateKey(ApiKeyStore keys) : Endpoint<CreateKeyRequest, CreatedApiKeyResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/organizations/{orgId}/api-keys");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Create an API key for an organization (the key is shown only in this response).");
        Description(d => d.Answers<CreatedApiKeyResponse>(201).Problems(404));
    }

    public sealed class Validator : Validator<CreateKeyRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name).NotEmpty().WithMessage("name is required.").MaximumLength(100).WithMessage("name must be at most 100 characters.");
            RuleFor(r => r.Name).NoControlCharacters("name");
            RuleFor(r => r.Scopes!).NotEmpty().When(r => r.Scopes is not null).WithMessage("scopes must not be empty when given.");
            RuleForEach(r => r.Scopes).Must(s => BackstopPolicies.Scopes.Contains(s)).WithMessage("each scope must be read, write or admin.");
            RuleFor(r => r.ExpiresAt).Must(e => e is null || e > Resolve<TimeProvider>().GetUtcNow())
                .WithMessage("expiresAt must be in the future.");
        }
    }

    public override async Task HandleAsync(CreateKeyRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await keys.CreateAsync(req.OrgId, req.Name.Trim(), req.Scopes, req.ExpiresAt, ct), 201, ct);
    }
}
