using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

/// <summary><c>POST /v1/admin/webhooks/replays/{id}/cancel</c>: stops a running bulk replay after the event in hand.</summary>
internal sealed class CancelWebhookReplay(IWebhookReplays replays) : Endpoint<WebhookReplayIdRequest, WebhookReplay>
{
    public override void Configure()
    {
        Post("/v1/admin/webhooks/replays/{id}/cancel");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Cancel a running bulk webhook replay (what it replayed stays replayed).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(WebhookReplayIdRequest req, CancellationToken ct) => await Send.OkAsync(await replays.CancelAsync(req.Id, ct), ct);
}
