using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// Works the running bulk replays (<c>POST /v1/admin/webhooks/replays</c>), oldest first, each in batches of
/// <see cref="WebhookReplays.BatchSize"/> events until it is finished or the run loses its lease (then at the next
/// batch boundary; the next run resumes where the replay's position says). A replay started while another is
/// running waits for it to finish in this run: replays are an operator's repair, not a stream to share fairly.
/// </summary>
internal sealed class WebhookReplayJob(WebhookReplays replays, JobContext context) : IRecurringJob
{
    public static string Id => "webhook-replays";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long worked = 0;
        foreach (var replay in await replays.RunningAsync(100, ct))
        {
            while (!context.Stop.IsCancellationRequested)
            {
                var (count, finished) = await replays.ProcessBatchAsync(replay, ct);
                worked += count;
                if (finished) break;
            }
        }
        return worked;
    }
}
