namespace Backstop.Infrastructure.Data;

/// <summary>
/// The one loop every sweep deletes with. Each batch is its own short statement on its own connection, so SQLite's
/// single writer lock is held for one batch at a time and other writers get in between batches, and so a sweep
/// that is stopped (its job lost its lease, see <c>JobContext</c>) leaves nothing half done: it stops between batches.
/// </summary>
internal static class BatchedDelete
{
    /// <summary>
    /// Runs <paramref name="sql"/>, a delete of at most <c>@batchSize</c> rows, until a batch deletes fewer than
    /// <paramref name="batchSize"/> or <paramref name="stop"/> is signalled; returns how many rows were deleted.
    /// </summary>
    /// <remarks>
    /// <paramref name="stop"/> is looked at only between batches, never passed to a statement: a batch that started
    /// commits. <paramref name="ct"/> (the host stopping) cancels the statement itself.
    /// </remarks>
    public static async Task<long> DeleteInBatchesAsync(
        this Db db, string sql, object? parameters, int batchSize, CancellationToken stop, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var arguments = new DynamicParameters(parameters);
        arguments.Add("batchSize", batchSize);
        long total = 0;
        while (!stop.IsCancellationRequested)
        {
            await using var connection = await db.OpenAsync(ct);
            var deleted = await connection.ExecuteAsync(new CommandDefinition(sql, arguments, cancellationToken: ct));
            total += deleted;
            if (deleted < batchSize) break;
        }
        return total;
    }
}
