using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// The safety net behind the dispatch loop: delivers whatever is due (including messages whose instance died while
/// holding them), deletes <c>sent</c> messages past retention in bounded batches, and refreshes the pending gauge.
/// </summary>
internal sealed class OutboxSweepJob(OutboxDispatcher dispatcher, Db db, TimeProvider time, IOptions<OutboxOptions> options, JobContext context, OutboxPendingGauge gauge) : IRecurringJob
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

        await gauge.RefreshAsync(ct);
        return handled;
    }
}
