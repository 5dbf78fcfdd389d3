using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

internal sealed record WebhookReplayIdRequest
{
    public string Id { get; init; } = "";
}

/// <summary><c>GET /v1/admin/webhooks/replays/{id}</c>: a bulk replay's progress.</summary>
internal sealed class GetWebhookReplay(IWebhookReplays replays) : Endpoint<WebhookReplayIdRequest, WebhookReplay>
{
    public override void Configure()
    {
        Get("/v1/admin/webhooks/replays/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "A bulk webhook replay's progress.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(WebhookReplayIdRequest req, CancellationToken ct) => await Send.OkAsync(await replays.GetAsync(req.Id, ct), ct);
}
