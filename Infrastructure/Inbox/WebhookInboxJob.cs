using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// Every minute: processes events that are due — failed ones whose backoff has passed, and received ones whose
/// inline processing never ran (the instance stopped between storing and processing). Each event is claimed by
/// the same conditional update as inline processing, so the job and a request never both run a handler.
/// </summary>
internal sealed class WebhookInboxJob(Db db, TimeProvider time, WebhookInbox inbox, IOptions<WebhooksOptions> options, ILogger<WebhookInboxJob> log)
    : IRecurringJob
{
    // A run is bounded so that one minute's run does not overlap the next one's schedule for long.
    private const int MaxBatches = 10;

    public static string Id => "webhook-inbox";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long handled = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var batch = 0; batch < MaxBatches; batch++)
        {
            List<string> due;
            await using (var connection = await db.OpenAsync(ct))
            {
                due = (await connection.QueryAsync<string>(new CommandDefinition(
                    """
                    select id from webhook_events
                    where status in ('received', 'failed') and next_attempt_at <= @now
                    order by next_attempt_at
                    limit @limit
                    """, new { now = time.GetUtcNow(), limit = options.Value.BatchSize }, cancellationToken: ct))).ToList();
            }

            // An event that could not even record its failure would come back at once; never loop on it.
            due.RemoveAll(id => !seen.Add(id));
            foreach (var id in due)
            {
                try
                {
                    if (await inbox.ProcessAsync(id, ct) != ProcessOutcome.NotClaimed) handled++;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError(e, "Webhook event {WebhookId} could not be processed by the inbox job", id);
                }
            }
            if (due.Count < options.Value.BatchSize) break;
        }
        return handled;
    }
}
