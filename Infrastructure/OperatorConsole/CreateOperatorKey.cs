using FastEndpoints;

namespace Backstop.Infrastructure.OperatorConsole;

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
