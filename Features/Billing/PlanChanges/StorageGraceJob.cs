using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>
/// Daily at 02:00: storage violations whose grace period has ended get their final warning email to the owners,
/// once per violation — the conditional update that stamps <c>final_warning_at</c> decides, and the email is enqueued
/// in the same transaction (keyed by the violation, so even a replayed batch sends it once). From then on the access
/// gate refuses recordings and uploads (metric <c>storage_bytes</c>).
/// </summary>
internal sealed class StorageGraceJob(Db db, IOutbox outbox, IOrganizationDirectory directory, TimeProvider time, JobContext context,
    ILogger<StorageGraceJob> log) : IRecurringJob
{
    private const int BatchSize = 100;

    public static string Id => "billing-storage-grace";
    public static string DefaultCron => "0 2 * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long warned = 0;
        while (!context.Stop.IsCancellationRequested)
        {
            var batch = await db.InTransactionAsync(async (connection, tx) =>
            {
                var now = time.GetUtcNow();
                var ended = (await connection.QueryAsync<StoredViolation>(new CommandDefinition(
                    """
                    update plan_violations set final_warning_at = @now, updated_at = @now
                    where id in (select id from plan_violations
                                 where metric = 'storage_bytes' and cleared_at is null and final_warning_at is null and grace_ends_at <= @now
                                 order by id limit @BatchSize)
                    returning id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, grace_ends_at, detected_at, final_warning_at
                    """, new { now, BatchSize }, tx, cancellationToken: ct))).AsList();
                foreach (var v in ended)
                {
                    var content = new EmailContent(
                        "Recording is now paused: your storage is over your plan",
                        $"{v.Sentence}. The {v.GraceEndsAt:yyyy-MM-dd} grace period has ended: new recordings and uploads are refused until you delete recordings or upgrade.",
                        $"<p>{System.Net.WebUtility.HtmlEncode(v.Sentence)}.</p><p>The grace period ended on {v.GraceEndsAt:yyyy-MM-dd}: new recordings and uploads are refused until you delete recordings or upgrade.</p>");
                    foreach (var to in await directory.NotificationEmailsAsync(connection, tx, v.OrganizationId, null, ct))
                        await outbox.EnqueueAsync(connection, tx, OutboxEmail.Create($"storage-grace-final:{v.Id}:{to}", to, content, v.Id), ct);
                }
                return ended.Count;
            }, ct);
            warned += batch;
            if (batch > 0) log.LogInformation("Storage grace ended for {Count} organizations: final warnings enqueued", batch);
            if (batch < BatchSize) break;
        }
        return warned;
    }
}
