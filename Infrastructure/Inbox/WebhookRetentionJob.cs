using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Inbox;

/// <summary>Daily: deletes processed and ignored events past their retention, and dead ones past theirs, in bounded batches.</summary>
internal sealed class WebhookRetentionJob(Db db, TimeProvider time, IOptions<WebhooksOptions> options, JobContext context) : IRecurringJob
{
    public static string Id => "webhook-retention";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "0 3 * * *";

    private const string Delete =
        """
        delete from webhook_events
        where id in (select id from webhook_events
                     where status = @status and updated_at < @cutoff
                     order by updated_at
                     limit @batchSize)
        """;

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        // Retention counts from the last change (a replay or a late retry restarts it), never from receipt: an
        // event still being retried must not lose its dedup row while its provider may deliver it again.
        // One status per statement: each batch is then the oldest entries of ix_webhook_events_status_updated, read in
        // order. "status = a or status = b … order by updated_at" made SQLite sort every expired event of both
        // statuses for every batch of 100 (#29).
        var processedCutoff = now.AddDays(-o.ProcessedRetentionDays);
        return await db.DeleteInBatchesAsync(Delete, new { status = "processed", cutoff = processedCutoff }, o.BatchSize, context.Stop, ct)
               + await db.DeleteInBatchesAsync(Delete, new { status = "ignored", cutoff = processedCutoff }, o.BatchSize, context.Stop, ct)
               + await db.DeleteInBatchesAsync(Delete, new { status = "dead", cutoff = now.AddDays(-o.DeadRetentionDays) }, o.BatchSize, context.Stop, ct);
    }
}
