using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Works the running recoveries (<c>POST …/event-endpoints/{id}/recover</c>) in bounded batches of
/// <see cref="EventRedeliveries.BatchSize"/> events, oldest recovery first. A run gives each recovery at most
/// <see cref="BatchesPerRecovery"/> batches before the next one, so one huge recovery cannot starve the others;
/// whatever is left is the next run's. Stops at a batch boundary when the run loses its lease. Then deletes, in
/// batches, redelivery rows older than the outbox keeps sent messages (they can no longer tell an acknowledgement,
/// and a recovery may not reach back that far) and recoveries finished more than <see cref="FinishedRetentionDays"/> ago.
/// </summary>
internal sealed class EventRecoveryJob(EventRedeliveries redeliveries, Db db, TimeProvider time, IOptions<OutboxOptions> outbox, JobContext context) : IRecurringJob
{
    public const int BatchesPerRecovery = 20;
    public const int FinishedRetentionDays = 30;

    // Small enough that one delete holds SQLite's single writer lock for milliseconds.
    private const int DeleteBatchSize = 1000;

    public static string Id => "event-recovery";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long handled = 0;
        foreach (var recovery in await redeliveries.RunningAsync(100, ct))
        {
            for (var batch = 0; batch < BatchesPerRecovery && !context.Stop.IsCancellationRequested; batch++)
            {
                var (count, finished) = await redeliveries.ProcessBatchAsync(recovery, ct);
                handled += count;
                if (finished) break;
            }
        }
        var now = time.GetUtcNow();
        handled += await db.DeleteInBatchesAsync(
            """
            delete from event_redeliveries
            where id in (select id from event_redeliveries where created_at < @cutoff order by created_at limit @batchSize)
            """, new { cutoff = now.AddDays(-outbox.Value.RetentionDays) }, DeleteBatchSize, context.Stop, ct);
        handled += await db.DeleteInBatchesAsync(
            """
            delete from event_recoveries
            where id in (select id from event_recoveries where finished_at < @cutoff order by finished_at limit @batchSize)
            """, new { cutoff = now.AddDays(-FinishedRetentionDays) }, DeleteBatchSize, context.Stop, ct);
        return handled;
    }
}
