namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// Deletes <c>job_runs</c> rows older than <c>Jobs:RunRetentionDays</c>, and the console's hourly counts older than
/// 30 days (<see cref="Stats.HourlyCounts.RetentionDays"/>), in bounded batches.
/// </summary>
internal sealed class JobRunsRetentionJob(Db db, TimeProvider time, IOptions<JobsOptions> options, JobContext context) : IRecurringJob
{
    // Small enough that one batch holds SQLite's single writer lock for milliseconds, not seconds.
    private const int BatchSize = 1000;

    public static string Id => "job-runs-retention";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "30 3 * * *";

    public async Task<long> RunAsync(CancellationToken ct) =>
        await db.DeleteInBatchesAsync(
            """
            delete from job_runs
            where id in (select id from job_runs where started_at < @cutoff order by started_at limit @batchSize)
            """, new { cutoff = time.GetUtcNow().AddDays(-options.Value.RunRetentionDays) }, BatchSize, context.Stop, ct)
        + await Stats.HourlyCounts.PruneAsync(db, time.GetUtcNow(), context.Stop, ct);
}
