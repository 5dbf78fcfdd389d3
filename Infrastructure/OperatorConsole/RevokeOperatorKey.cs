using FastEndpoints;

namespace Backstop.Infrastructure.OperatorConsole;

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
