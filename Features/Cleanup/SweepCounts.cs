using Prometheus;

namespace Backstop.Features.Cleanup;

/// <summary>What one run of a sweep did; stored in <c>job_runs.counts</c> and added to <c>cleanup_totals</c> batch by batch.</summary>
internal sealed class SweepCounts(string sweep)
{
    public const string DoneKey = "done";
    public const string FailedKey = "failed";
    public const string BytesFreedKey = "bytesFreed";
    public const string BatchesKey = "batches";

    private static readonly Counter Items = Metrics.CreateCounter(
        "backstop_cleanup_items_total", "Items the cleanup sweeps handled, by sweep and outcome (done, failed).", "sweep", "outcome");

    private static readonly Counter BytesFreed = Metrics.CreateCounter(
        "backstop_cleanup_bytes_freed_total", "Bytes of stored files the cleanup sweeps deleted.");

    public string Sweep { get; } = sweep;
    public long Done { get; private set; }
    public long Failed { get; private set; }
    public long Bytes { get; private set; }
    public long Batches { get; private set; }

    public IReadOnlyDictionary<string, long> AsDictionary() => new Dictionary<string, long>
    {
        [DoneKey] = Done,
        [FailedKey] = Failed,
        [BytesFreedKey] = Bytes,
        [BatchesKey] = Batches,
    };

    public void Batch() => Batches++;

    /// <summary>Counts a batch's outcome once its transaction committed (metrics never count what was rolled back).</summary>
    public void Add(long done, long failed, long bytes)
    {
        Done += done;
        Failed += failed;
        Bytes += bytes;
        if (done > 0) Items.WithLabels(Sweep, DoneKey).Inc(done);
        if (failed > 0) Items.WithLabels(Sweep, FailedKey).Inc(failed);
        if (bytes > 0) BytesFreed.Inc(bytes);
    }

    /// <summary>Adds a batch to the sweep's running totals, in the batch's own transaction.</summary>
    public static Task AddToTotalsAsync(DbConnection connection, DbTransaction? tx, string sweep, long done, long failed, long bytes, DateTimeOffset now, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            insert into cleanup_totals (sweep, items_done, items_failed, bytes_freed, created_at, updated_at)
            values (@sweep, @done, @failed, @bytes, @now, @now)
            on conflict (sweep) do update
                set items_done = cleanup_totals.items_done + excluded.items_done,
                    items_failed = cleanup_totals.items_failed + excluded.items_failed,
                    bytes_freed = cleanup_totals.bytes_freed + excluded.bytes_freed,
                    updated_at = excluded.updated_at
            """, new { sweep, done, failed, bytes, now }, tx, cancellationToken: ct));
}
