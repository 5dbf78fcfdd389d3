using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Dapper;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Inbox;

/// <summary>Daily: deletes processed and ignored events past their retention, and dead ones past theirs, in bounded batches.</summary>
public sealed class WebhookRetentionJob(Db db, TimeProvider time, IOptions<WebhooksOptions> options) : IRecurringJob
{
    public static string Id => "webhook-retention";
    public static string DefaultCron => "0 3 * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        // Retention counts from the last change (a replay or a late retry restarts it), never from receipt: an
        // event still being retried must not lose its dedup row while its provider may deliver it again.
        return await DeleteAsync("processed", "ignored", now.AddDays(-o.ProcessedRetentionDays), o.BatchSize, ct)
               + await DeleteAsync("dead", "dead", now.AddDays(-o.DeadRetentionDays), o.BatchSize, ct);
    }

    private async Task<long> DeleteAsync(string status, string otherStatus, DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            await using var connection = await db.OpenAsync(ct);
            // Bounded batches keep SQLite's single writer lock short; the loop ends with the first partial batch.
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                """
                delete from webhook_events
                where id in (select id from webhook_events
                             where (status = @status or status = @otherStatus) and updated_at < @cutoff
                             order by updated_at
                             limit @batchSize)
                """, new { status, otherStatus, cutoff, batchSize }, cancellationToken: ct));
            total += deleted;
            if (deleted < batchSize) return total;
        }
    }
}
