using Backstop.Features.Bots;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Storage;

namespace Backstop.Features.Cleanup;

/// <summary>
/// Daily at 04:00: meetings soft-deleted more than <c>Cleanup:StorageRetentionDays</c> ago lose their audio file
/// (a file already missing is fine) and their audio columns, and the bytes freed are counted. Nothing else is
/// touched: a meeting deleted more recently, or not deleted, keeps its file. Then the transcripts of those meetings,
/// and (through Quota's <see cref="IUsageRetention"/>) the usage rows of organizations deleted before the same cutoff.
/// </summary>
/// <remarks>
/// The file goes first, the columns after: a run that dies in between leaves a row whose file is missing, which the
/// next run clears. A batch is one page read, one store delete per file (the store has no batch delete), then one
/// transaction of one update and one totals upsert. A file that cannot be deleted is logged with its meeting id and
/// keeps its row for the next run; the others of the batch are cleared.
/// Bytes freed are the recorded sizes (<c>audio_size</c>) of the files deleted: a store cannot tell a deleted file
/// from one already gone (S3 answers 204 to both), so a file missing before the run still counts its recorded size.
/// </remarks>
internal sealed class StorageCleanupJob(
    Db db,
    IFileStore store,
    IMeetingUsage meetingUsage,
    IMeetingSweeps sweeps,
    IUsageMeter usage,
    IUsageRetention usageRetention,
    TimeProvider time,
    IOptions<CleanupOptions> options,
    JobContext context,
    ILogger<StorageCleanupJob> log) : IRecurringJob, IReportsCounts
{
    private readonly SweepCounts counts = new(Id);

    public static string Id => "storage-cleanup";
    public static JobKind Kind => JobKind.Cleanup;
    public static string DefaultCron => "0 4 * * *";

    public IReadOnlyDictionary<string, long> Counts => counts.AsDictionary();

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var cutoff = now.AddDays(-options.Value.StorageRetentionDays);
        var batchSize = options.Value.BatchSize;
        var after = "";
        // context.Stop: the run lost its lease and another may be sweeping; stop between batches, never inside one.
        while (!context.Stop.IsCancellationRequested)
        {
            IReadOnlyList<StoredAudio> page;
            await using (var connection = await db.OpenAsync(ct))
                page = await sweeps.FindExpiredAudioAsync(connection, null, cutoff, after, batchSize, ct);
            if (page.Count == 0) break;
            counts.Batch();
            after = page[^1].Id;

            var deleted = new List<StoredAudio>(page.Count);
            foreach (var audio in page)
            {
                try
                {
                    await store.DeleteAsync(audio.AudioKey, ct);
                    deleted.Add(audio);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    log.LogError(e, "Could not delete the audio file of meeting {MeetingId}; the next run tries again", audio.Id);
                }
            }
            var failed = page.Count - deleted.Count;
            try
            {
                // Read before the transaction (the meter's own connections); the gauges are set inside it.
                var scopes = new List<UsageScope>();
                foreach (var organizationId in deleted.Select(d => d.OrganizationId).Distinct(StringComparer.Ordinal))
                    scopes.Add(await usage.PrepareAsync(organizationId, "storage_bytes", requireLimit: false, ct));
                var (cleared, bytes) = await ClearAsync(deleted, scopes, failed, now, cutoff, ct);
                counts.Add(cleared, failed, bytes);
                if (cleared > 0) log.LogInformation("Storage cleanup removed the audio of {Count} deleted meetings, {Bytes} bytes", cleared, bytes);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // The files are gone; the rows are cleared by the next run (deleting a missing file is fine).
                log.LogError(e, "Could not clear the audio columns of {Count} meetings (first {MeetingId}); the next run tries again",
                    deleted.Count, deleted.FirstOrDefault()?.Id);
                counts.Add(0, page.Count, 0);
            }
            if (page.Count < batchSize) break;
        }
        await DeleteTranscriptsAsync(cutoff, batchSize, ct);
        // Last: the audio clearing above may still set a deleted organization's storage_bytes gauge. Quota's rows of an
        // organization deleted before the cutoff, through its own interface (its statements, bounded batches).
        var usageRows = await usageRetention.DeleteDeletedOrganizationsUsageAsync(cutoff, batchSize, context.Stop, ct);
        if (usageRows > 0) log.LogInformation("Storage cleanup removed {Count} usage rows of deleted organizations", usageRows);
        return counts.Done;
    }

    /// <summary>The transcripts of meetings deleted before the cutoff, a batch per statement, between batches stopping like the files.</summary>
    private async Task DeleteTranscriptsAsync(DateTimeOffset cutoff, int batchSize, CancellationToken ct)
    {
        var total = 0;
        while (!context.Stop.IsCancellationRequested)
        {
            int removed;
            await using (var connection = await db.OpenAsync(ct))
                removed = await sweeps.DeleteExpiredTranscriptsAsync(connection, null, cutoff, batchSize, ct);
            total += removed;
            if (removed < batchSize) break;
        }
        if (total > 0) log.LogInformation("Storage cleanup removed {Count} transcripts of deleted meetings", total);
    }

    private Task<(int Cleared, long Bytes)> ClearAsync(List<StoredAudio> deleted, List<UsageScope> scopes, int failed, DateTimeOffset now, DateTimeOffset cutoff, CancellationToken ct) =>
        db.InTransactionAsync(async (connection, tx) =>
        {
            var cleared = new HashSet<string>(StringComparer.Ordinal);
            cleared.UnionWith(await sweeps.ClearAudioAsync(connection, tx, [.. deleted.Select(d => d.Id)], now, cutoff, ct));
            var bytes = deleted.Where(d => cleared.Contains(d.Id)).Sum(d => d.AudioSize ?? 0);
            // storage_bytes given back: each organization's gauge set from the rows as they are now, in this transaction.
            foreach (var scope in scopes)
                await usage.SetGaugeAsync(connection, tx, scope, await meetingUsage.StoredBytesAsync(connection, tx, scope.OrganizationId, ct), enforceLimit: false, ct);
            await SweepCounts.AddToTotalsAsync(connection, tx, Id, cleared.Count, failed, bytes, now, ct);
            return (cleared.Count, bytes);
        }, ct);
}
