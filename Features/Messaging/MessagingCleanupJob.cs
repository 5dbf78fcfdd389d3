using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Messaging;

/// <summary>
/// Deletes one-time codes a day past their expiry and rate-limit entries older than a day (the longest window is a
/// day), and the SMS, code and SMS-settings rows of organizations deleted more than <c>Cleanup:StorageRetentionDays</c>
/// (30) ago (the retention every deleted organization's data gets), in bounded batches.
/// </summary>
internal sealed class MessagingCleanupJob(Db db, TimeProvider time, JobContext context, IConfiguration configuration) : IRecurringJob
{
    private const int BatchSize = 1000;

    public static string Id => "messaging-cleanup";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "15 * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var cutoff = new { cutoff = time.GetUtcNow().AddDays(-1) };
        // Cleanup's setting, read by its name: the retention is the operator's one promise for a deleted organization's data.
        var retentionDays = configuration.GetValue("Cleanup:StorageRetentionDays", 30);
        var erased = new { erasedBefore = time.GetUtcNow().AddDays(-retentionDays) };
        long total = 0;
        foreach (var sql in new[]
                 {
                     "delete from otp_codes where id in (select id from otp_codes where expires_at < @cutoff limit @batchSize)",
                     "delete from otp_rate_events where id in (select id from otp_rate_events where created_at < @cutoff limit @batchSize)",
                     // An OTP send holds its bucket rows (global, then the recipient's) until it commits; the cleanup
                     // skips rows held that way instead of waiting, so the two can never deadlock on PostgreSQL.
                     $"delete from otp_rate_limits where bucket in (select bucket from otp_rate_limits where updated_at < @cutoff limit @batchSize {db.Dialect.SkipLocked()})",
                 })
        {
            total += await db.DeleteInBatchesAsync(sql, cutoff, BatchSize, context.Stop, ct);
        }
        // Each table with its key (organization_sms_settings has one row per organization, keyed by it).
        foreach (var (table, key) in new[] { ("sms_messages", "id"), ("otp_codes", "id"), ("organization_sms_settings", "organization_id") })
            total += await db.DeleteInBatchesAsync(
                $"""
                delete from {table} where {key} in (
                    select {key} from {table} where organization_id in (
                        select organization_id from messaging_organization_erasures where deleted_at < @erasedBefore)
                    limit @batchSize)
                """, erased, BatchSize, context.Stop, ct);
        return total;
    }
}
