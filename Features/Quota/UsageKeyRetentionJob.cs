using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Quota;

/// <summary>
/// Daily: deletes stored idempotency keys past their retention, in bounded batches. Every keyed request through the
/// API leaves one row, so without this the table grows by the request rate for ever. A counter's key is kept for the
/// longest period of its metric's window plus 7 days (a yearly window keeps its keys 373 days, a monthly one 38), so a
/// client retrying within the period its request counted in is always answered the same; never less than
/// <c>Quota:IdempotencyRetentionDays</c>, which is also what a gauge's keys get. A key older than that counts again if
/// it is sent again.
/// </summary>
internal sealed class UsageKeyRetentionJob(Db db, TimeProvider time, IOptions<QuotaOptions> options, JobContext context) : IRecurringJob
{
    public static string Id => "usage-key-retention";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "45 3 * * *";

    /// <summary>Beyond the longest period of a window: a retry arriving just after its period ended is still answered.</summary>
    public static readonly TimeSpan Slack = TimeSpan.FromDays(7);

    // Row values against the primary key: the table has no surrogate id (the key is the identity).
    private const string Delete =
        """
        delete from usage_idempotency
        where (organization_id, metric, idempotency_key) in (
            select i.organization_id, i.metric, i.idempotency_key from usage_idempotency i
            join usage_metrics m on m.name = i.metric
            where i.created_at < @cutoff and m.usage_window = @window
            order by i.created_at
            limit @batchSize)
        """;

    public static TimeSpan RetentionOf(string window, int minimumDays)
    {
        var minimum = TimeSpan.FromDays(minimumDays);
        if (window == UsageWindows.None) return minimum;
        var kept = BillingPeriods.LongestPeriod(window) + Slack;
        return kept > minimum ? kept : minimum;
    }

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long deleted = 0;
        var now = time.GetUtcNow();
        foreach (var window in UsageWindows.All)
            deleted += await db.DeleteInBatchesAsync(Delete,
                new { window, cutoff = now - RetentionOf(window, options.Value.IdempotencyRetentionDays) }, options.Value.BatchSize, context.Stop, ct);
        // A past period's counter is its history: kept Quota:HistoryRetentionDays after the period ended (gauges have no end).
        await db.DeleteInBatchesAsync(
            """
            delete from usage_counters
            where (organization_id, metric, period_start) in (
                select organization_id, metric, period_start from usage_counters
                where period_end < @cutoff and period_start <> @gauge
                order by period_end
                limit @batchSize)
            """, new { cutoff = now.AddDays(-options.Value.HistoryRetentionDays), gauge = BillingPeriods.GaugeStart }, options.Value.BatchSize, context.Stop, ct);
        // A group commit's row is only read back right after its own commit.
        await db.DeleteInBatchesAsync(
            "delete from usage_commits where id in (select id from usage_commits where created_at < @cutoff order by created_at limit @batchSize)",
            new { cutoff = now.AddDays(-1) }, options.Value.BatchSize, context.Stop, ct);
        return deleted;
    }
}
