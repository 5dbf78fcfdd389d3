using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Infrastructure.OperatorConsole;

internal sealed record CreateOperatorKeyRequest
{
    public string Name { get; init; } = "";
    /// <summary><c>admin</c> (acts in the console) or <c>read_only</c> (sees everything, changes nothing).</summary>
    public string Role { get; init; } = "";
}

/// <summary><c>POST /v1/admin/operator-keys</c>: a console sign-in key; the key is in this answer only.</summary>
internal sealed class CreateOperatorKey(OperatorKeyStore keys) : Endpoint<CreateOperatorKeyRequest, CreatedOperatorKeyResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/operator-keys");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Create an operator key for the console, admin or read_only (the key is shown only in this response).");
        Description(d => d.Answers<CreatedOperatorKeyResponse>(201).Problems(409));
    }

    public sealed class Validator : Validator<CreateOperatorKeyRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name).NotEmpty().WithMessage("name is required.").MaximumLength(100).WithMessage("name must be at most 100 characters.");
            RuleFor(r => r.Name).NoControlCharacters("name");
            // The audit log shows a console session as console:<name>, and console:admin is the admin key's.
            RuleFor(r => r.Name).Must(n => !string.Equals(n.Trim(), "admin", StringComparison.OrdinalIgnoreCase))
                .WithMessage("name 'admin' is the admin key's; choose another.");
            RuleFor(r => r.Role).Must(r => OperatorRoles.All.Contains(r)).WithMessage("role must be admin or read_only.");
        }
    }

    public override async Task HandleAsync(CreateOperatorKeyRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await keys.CreateAsync(req.Name.Trim(), req.Role, ct), 201, ct);
    }
}

internal sealed record ListOperatorKeysRequest : PageRequest;

/// <summary><c>GET /v1/admin/operator-keys</c>: every operator key, live and revoked, newest first.</summary>
internal sealed class ListOperatorKeys(OperatorKeyStore keys) : Endpoint<ListOperatorKeysRequest, Page<OperatorKeyResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/operator-keys");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List operator keys (newest first, paginated; never the keys themselves).");
    }

    public sealed class Validator : Validator<ListOperatorKeysRequest>
    {
        public Validator() => this.AddPagingRules();
    }

    public override async Task HandleAsync(ListOperatorKeysRequest req, CancellationToken ct) =>
        await Send.OkAsync(await keys.ListAsync(req, ct), ct);
}

internal sealed record OperatorKeyIdRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>DELETE /v1/admin/operator-keys/{id}</c>: the key no longer signs in, and its open console sessions end.</summary>
internal sealed class RevokeOperatorKey(OperatorKeyStore keys) : Endpoint<OperatorKeyIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/operator-keys/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Revoke an operator key (its console sessions end at their next request).");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(OperatorKeyIdRequest req, CancellationToken ct)
    {
        await keys.RevokeAsync(req.Id, ct);
        await Send.NoContentAsync(ct);
    }
}
