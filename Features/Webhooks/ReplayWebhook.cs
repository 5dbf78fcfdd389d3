using Backstop.Infrastructure.Inbox;
using FastEndpoints;

namespace Backstop.Features.Webhooks;

/// <summary>
/// <c>POST /v1/admin/webhooks/{id}/replay</c>: runs the handler of a processed, ignored or dead event again, in one
/// transaction with its new mark, and records the replay (replay_count, last_replayed_at, a log line). Received and
/// failed events are the inbox job's: replaying them would race its retries.
/// </summary>
internal sealed class ReplayWebhook(WebhookInbox inbox, Infrastructure.Audit.IAuditLog audit, ILogger<ReplayWebhook> log) : Endpoint<WebhookIdRequest, WebhookDetails>
{
    public override void Configure()
    {
        Post("/v1/admin/webhooks/{id}/replay");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Re-run the handler of a processed, ignored or dead webhook event.");
        Description(d => d.Problems(404, 409, 422));
    }

    public override async Task HandleAsync(WebhookIdRequest req, CancellationToken ct)
    {
        var before = await inbox.GetAsync(req.Id, ct) ?? throw ProblemException.NotFound($"Webhook event '{req.Id}'");
        log.LogInformation("Admin replays webhook event {WebhookId} ({Provider} {EventType}, {Status})", before.Id, before.Provider, before.EventType, before.Status);
        var outcome = await inbox.ReplayAsync(req.Id, ct);
        var after = await inbox.GetAsync(req.Id, ct) ?? throw ProblemException.NotFound($"Webhook event '{req.Id}'");
        switch (outcome)
        {
            case ProcessOutcome.NotClaimed:
                throw new ProblemException(409, "not_replayable",
                    $"Only processed, ignored or dead events can be replayed; this one is {after.Status} and the inbox retries it by itself.");
            case ProcessOutcome.Failed:
                throw new ProblemException(422, "replay_failed", $"The handler failed again: {after.LastError}");
            default:
                // The replay commits in the inbox's own transaction; the entry records it once it has.
                await audit.RecordAsync(new Infrastructure.Audit.AuditEntry(Infrastructure.Audit.AuditActions.WebhookReplay, "webhook_event", after.Id,
                    Changes: new { after.Provider, after.EventType, status = new { from = before.Status, to = after.Status } }), ct);
                await Send.OkAsync(WebhookDetails.Of(after), ct);
                break;
        }
    }
}
