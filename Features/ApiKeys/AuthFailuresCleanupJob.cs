using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Deletes failure events that have left the window, and counter rows whose last failure has left the window and
/// whose lock has ended, each in bounded batches.
/// </summary>
internal sealed class AuthFailuresCleanupJob(Db db, TimeProvider time, IOptions<LockoutOptions> options, JobContext context) : IRecurringJob
{
    private const int BatchSize = 1000;

    public static string Id => "auth-failures-cleanup";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "*/15 * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var windowStart = now.AddMinutes(-options.Value.WindowMinutes);
        // Events at or before the window start never count again: time only moves forward.
        var total = await db.DeleteInBatchesAsync(
            """
            delete from auth_failure_events
            where id in (select id from auth_failure_events where created_at <= @windowStart limit @batchSize)
            """, new { windowStart }, BatchSize, context.Stop, ct);
        // PostgreSQL: rows a failure holds are skipped, never waited for. A failure locks its pair row and then its
        // address row; a delete waiting for one while holding the other would deadlock with it. A skipped row is live
        // again or is deleted by a later run.
        total += await db.DeleteInBatchesAsync(
            $"""
            delete from auth_failures
            where (scope, ip, prefix) in (
                select scope, ip, prefix from auth_failures
                where last_failure_at <= @windowStart and (locked_until is null or locked_until <= @now)
                limit @batchSize {db.Dialect.SkipLocked()})
              and last_failure_at <= @windowStart and (locked_until is null or locked_until <= @now)
            """, new { now, windowStart }, BatchSize, context.Stop, ct);
        return total;
    }
}
