using System.Text;

namespace Backstop.Infrastructure.Inbox;

/// <summary>Bulk replays of stored webhook events: what the admin API and the console call.</summary>
internal interface IWebhookReplays
{
    /// <summary>How many stored events the filter matches now (a dry run).</summary>
    Task<int> CountAsync(WebhookReplayFilter filter, CancellationToken ct);

    /// <summary>Starts a replay of the filter's matches (up to the newest match now), audited; the <c>webhook-replays</c> job works it.</summary>
    Task<WebhookReplay> StartAsync(WebhookReplayFilter filter, CancellationToken ct);

    /// <summary>The replay, or a 404 problem.</summary>
    Task<WebhookReplay> GetAsync(string id, CancellationToken ct);

    /// <summary>Stops a running replay, audited: what it replayed stays replayed, nothing more is. 409 when it is finished.</summary>
    Task<WebhookReplay> CancelAsync(string id, CancellationToken ct);
}
