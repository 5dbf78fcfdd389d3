using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Dapper;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// The safety net behind the dispatch loop: delivers whatever is due (including messages whose instance died while
/// holding them), deletes <c>sent</c> messages past retention in bounded batches, and refreshes the pending gauge.
/// </summary>
public sealed class OutboxSweepJob(OutboxDispatcher dispatcher, Db db, TimeProvider time, IOptions<OutboxOptions> options, JobContext context) : IRecurringJob
{
    // Small enough that one delete holds SQLite's single writer lock for milliseconds.
    private const int BatchSize = 1000;

    public static string Id => "outbox-sweep";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long handled = await dispatcher.DispatchDueAsync(ct);

        handled += await db.DeleteInBatchesAsync(
            """
            delete from outbox_messages
            where id in (select id from outbox_messages where status = 'sent' and sent_at < @cutoff order by sent_at limit @batchSize)
            """, new { cutoff = time.GetUtcNow().AddDays(-options.Value.RetentionDays) }, BatchSize, context.Stop, ct);

        await using (var connection = await db.OpenAsync(ct))
        {
            var pending = await connection.QueryAsync<(string Channel, long Count)>(new CommandDefinition(
                "select channel, count(*) from outbox_messages where status in ('pending', 'sending') group by channel",
                cancellationToken: ct));
            var seen = new HashSet<string>();
            foreach (var (channel, count) in pending)
            {
                OutboxMetrics.Pending.WithLabels(channel).Set(count);
                seen.Add(channel);
            }
            foreach (var labels in OutboxMetrics.Pending.GetAllLabelValues())
                if (!seen.Contains(labels[0])) OutboxMetrics.Pending.WithLabels(labels).Set(0);
        }
        return handled;
    }
}
