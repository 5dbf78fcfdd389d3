using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace Backstop.Features.Quota;

/// <summary>
/// Daily: deletes stored idempotency keys older than <c>Quota:IdempotencyRetentionDays</c>, in bounded batches.
/// Every keyed consumption leaves one row, so without this the table grows by the request rate for ever. The default
/// (35 days) is longer than a monthly period: a client retrying within the period its consumption counted in is always
/// answered the same; a key older than that counts again if it is sent again.
/// </summary>
internal sealed class UsageKeyRetentionJob(Db db, TimeProvider time, IOptions<QuotaOptions> options, JobContext context) : IRecurringJob
{
    public static string Id => "usage-key-retention";
    public static string DefaultCron => "45 3 * * *";

    // Row values against the primary key: the table has no surrogate id (the key is the identity).
    private const string Delete =
        """
        delete from usage_idempotency
        where (organization_id, metric, idempotency_key) in (
            select organization_id, metric, idempotency_key from usage_idempotency
            where created_at < @cutoff
            order by created_at
            limit @batchSize)
        """;

    public Task<long> RunAsync(CancellationToken ct) =>
        db.DeleteInBatchesAsync(Delete, new { cutoff = time.GetUtcNow().AddDays(-options.Value.IdempotencyRetentionDays) }, options.Value.BatchSize,
            context.Stop, ct);
}
