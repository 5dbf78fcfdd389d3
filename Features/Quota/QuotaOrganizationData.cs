using Backstop.Features.ApiKeys;

namespace Backstop.Features.Quota;

/// <summary>
/// An organization's usage at its deletion: the deletion is noted in its transaction (<c>usage_organization_erasures</c>)
/// and nothing else changes then (the counters stay readable for the operator during the retention). After
/// <c>Cleanup:StorageRetentionDays</c> the Cleanup slice's storage sweep calls <see cref="IUsageRetention"/>, which
/// deletes every usage row of the organization table by table in bounded batches; the note stays, so a row written
/// later for it (a late renewal event) goes on the next run. The report counts the rows left per table.
/// </summary>
internal sealed class QuotaOrganizationData(Db db, TimeProvider time) : IOrganizationDeletionListener, IOrganizationDataReport, IUsageRetention
{
    /// <summary>Each table holding an organization's usage with its primary key (a batch is selected by key: most have no surrogate id).</summary>
    private static readonly (string Table, string Key, string Report)[] Tables =
    [
        ("usage_counters", "organization_id, metric, period_start", "usage_counters"),
        ("usage_idempotency", "organization_id, metric, idempotency_key", "usage_idempotency_keys"),
        ("usage_notices", "organization_id, metric, period_start, threshold", "usage_notices"),
        ("usage_periods", "organization_id, period_start", "usage_periods"),
        ("usage_anchors", "organization_id", "usage_anchors"),
        ("usage_limit_overrides", "organization_id, metric", "usage_limit_overrides"),
        ("usage_drift", "id", "usage_drift"),
    ];

    public Task OnDeletingAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return connection.ExecuteAsync(new CommandDefinition(
            """
            insert into usage_organization_erasures (organization_id, deleted_at, created_at) values (@organizationId, @now, @now)
            on conflict (organization_id) do nothing
            """, new { organizationId, now }, transaction, cancellationToken: ct));
    }

    public async Task<long> DeleteDeletedOrganizationsUsageAsync(DateTimeOffset deletedBefore, int batchSize, CancellationToken stop, CancellationToken ct)
    {
        long total = 0;
        foreach (var (table, key, _) in Tables)
        {
            if (stop.IsCancellationRequested) break;
            total += await db.DeleteInBatchesAsync(
                $"""
                delete from {table} where ({key}) in (
                    select {key} from {table}
                    where organization_id in (select organization_id from usage_organization_erasures where deleted_at < @deletedBefore)
                    limit @batchSize)
                """, new { deletedBefore }, batchSize, stop, ct);
        }
        return total;
    }

    public async Task<IReadOnlyDictionary<string, long>> RemainingAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var counts = (await connection.QuerySingleAsync(new CommandDefinition(
            "select " + string.Join(", ", Tables.Select((t, i) => $"(select count(*) from {t.Table} where organization_id = @organizationId) as c{i}")),
            new { organizationId }, cancellationToken: ct))) as IDictionary<string, object>;
        return Tables.Select((t, i) => (t.Report, Count: Convert.ToInt64(counts![$"c{i}"], System.Globalization.CultureInfo.InvariantCulture)))
            .ToDictionary(x => x.Report, x => x.Count);
    }
}
