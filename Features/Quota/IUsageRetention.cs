namespace Backstop.Features.Quota;

/// <summary>
/// The Quota slice's retention of a deleted organization's usage, for the Cleanup slice's storage sweep (which owns
/// <c>Cleanup:StorageRetentionDays</c>): Quota keeps the statements over its own tables.
/// </summary>
public interface IUsageRetention
{
    /// <summary>
    /// Deletes every usage row (counters and their history, idempotency keys, threshold notices, renewal periods and the
    /// anchor, limit overrides, drift records) of the organizations deleted before <paramref name="deletedBefore"/>, in
    /// batches of <paramref name="batchSize"/> rows (each its own short statement), stopping between batches when
    /// <paramref name="stop"/> fires. Returns the rows deleted. Another organization's rows are never touched.
    /// </summary>
    Task<long> DeleteDeletedOrganizationsUsageAsync(DateTimeOffset deletedBefore, int batchSize, CancellationToken stop, CancellationToken ct);
}
