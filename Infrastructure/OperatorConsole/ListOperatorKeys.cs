using FastEndpoints;

namespace Backstop.Infrastructure.OperatorConsole;

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
