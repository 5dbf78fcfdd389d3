using System.Net.Http.Json;
using Backstop.Features.Cleanup;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Quota;

/// <summary>A deleted organization's usage rows stay through <c>Cleanup:StorageRetentionDays</c>, then the storage sweep deletes them (and only them).</summary>
public abstract class OrganizationUsageErasureTests(BackstopFactory app) : AppTest(app)
{
    private static readonly string[] Reported =
        ["usage_counters", "usage_idempotency_keys", "usage_notices", "usage_periods", "usage_anchors", "usage_limit_overrides", "usage_drift"];

    /// <summary>Every usage table's rows of the organization, as the test counts them (not through the report under test).</summary>
    private async Task<long> UsageRowsAsync(string organizationId)
    {
        long total = 0;
        foreach (var table in new[] { "usage_counters", "usage_idempotency", "usage_notices", "usage_periods", "usage_anchors", "usage_limit_overrides", "usage_drift" })
            total += await App.CountAsync($"select count(*) from {table} where organization_id = @organizationId", new { organizationId });
        return total;
    }

    private async Task<JsonElement> DeletionAsync(string organizationId) =>
        (await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{organizationId}")).JsonAsync()).GetProperty("deletion");

    /// <summary>An organization with a row in every usage table: keyed consumptions past 80 % (counter, keys, notice), a gauge, an override, a renewal's period and anchor, a drift record.</summary>
    private async Task<(string OrganizationId, string Metric)> WithUsageAsync(int keyedConsumptions = 5)
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 5, ["team_members"] = 10 });
        for (var i = 0; i < keyedConsumptions; i++)
            (await client.ConsumeAsync(metric, 1, key: $"k-{i}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/limit",
            new { limit = 1000, reason = "trial" }, Http.Json)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var now = App.Time.GetUtcNow();
        await using var connection = await App.OpenAsync();
        // What a renewal event and a reconciliation run leave (their own tests cover how): planted for this organization.
        await connection.ExecuteAsync(
            """
            insert into usage_periods (organization_id, period_start, period_end, provider, event_id, created_at)
            values (@organizationId, @start, @end, 'stripe', @eventId, @now);
            insert into usage_anchors (organization_id, provider, provider_subscription_id, period_start, period_end, updated_at)
            values (@organizationId, 'stripe', @eventId, @start, @end, @now);
            insert into usage_drift (id, organization_id, metric, period_start, stored, counted, corrected, detected_at)
            values (@eventId, @organizationId, 'team_members', @start, 2, 1, @corrected, @now);
            """, new { organizationId = tenant.OrganizationId, start = now.AddDays(-1), end = now.AddDays(29), eventId = "evt_" + Guid.NewGuid().ToString("N"), corrected = false, now });
        return (tenant.OrganizationId, metric);
    }

    private Task RunStorageCleanupAsync() =>
        App.Service<JobRunner>().RunAsync(StorageCleanupJob.Id, CancellationToken.None)
            .ContinueWith(t => t.Result.Outcome.ShouldBe(JobRunner.Succeeded), TaskScheduler.Default);

    [Fact]
    public async Task A_deleted_organizations_usage_stays_through_the_retention_then_the_storage_sweep_deletes_it_and_no_other()
    {
        var (deleted, _) = await WithUsageAsync();
        var (kept, _) = await WithUsageAsync();
        var keptRows = await UsageRowsAsync(kept);
        foreach (var table in new[] { "usage_counters", "usage_idempotency", "usage_notices", "usage_periods", "usage_anchors", "usage_limit_overrides", "usage_drift" })
            (await App.CountAsync($"select count(*) from {table} where organization_id = @deleted", new { deleted })).ShouldBeGreaterThan(0, table);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{deleted}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var remaining = (await DeletionAsync(deleted)).GetProperty("remaining");
        foreach (var name in Reported) remaining.GetProperty(name).GetInt64().ShouldBeGreaterThan(0, name);
        remaining.GetProperty("usage_idempotency_keys").GetInt64().ShouldBe(5);
        remaining.GetProperty("usage_notices").GetInt64().ShouldBe(3); // 80 % and 100 % of 5, and the period's usage.limit_reached record
        var before = await UsageRowsAsync(deleted);

        // Within the retention nothing goes.
        App.Time.Advance(TimeSpan.FromDays(29));
        await RunStorageCleanupAsync();
        (await UsageRowsAsync(deleted)).ShouldBe(before);

        App.Time.Advance(TimeSpan.FromDays(2));
        await RunStorageCleanupAsync();
        (await UsageRowsAsync(deleted)).ShouldBe(0);
        var progress = await DeletionAsync(deleted);
        foreach (var name in Reported) progress.GetProperty("remaining").GetProperty(name).GetInt64().ShouldBe(0, name);
        progress.GetProperty("complete").GetBoolean().ShouldBeTrue();
        // The other organization keeps every row.
        (await UsageRowsAsync(kept)).ShouldBe(keptRows);
        (await App.AdminClient().GetAsync($"/v1/admin/organizations/{kept}")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_sweep_deletes_in_bounded_batches_until_nothing_of_deleted_organizations_is_left_and_takes_rows_written_after_a_run()
    {
        var (deleted, _) = await WithUsageAsync(keyedConsumptions: 5);
        var (kept, _) = await WithUsageAsync();
        var keptRows = await UsageRowsAsync(kept);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{deleted}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var rows = await UsageRowsAsync(deleted);
        var retention = App.Service<IUsageRetention>();

        // A cutoff before the deletion: nothing.
        (await retention.DeleteDeletedOrganizationsUsageAsync(App.Time.GetUtcNow().AddSeconds(-1), 2, CancellationToken.None, CancellationToken.None)).ShouldBe(0);
        // After it, in batches of 2: every row, whatever the table's size against the batch.
        App.Time.Advance(TimeSpan.FromSeconds(1));
        (await retention.DeleteDeletedOrganizationsUsageAsync(App.Time.GetUtcNow(), 2, CancellationToken.None, CancellationToken.None)).ShouldBe(rows);
        (await UsageRowsAsync(deleted)).ShouldBe(0);

        // A row written for the deleted organization later (a late renewal event) goes on the next run: the deletion's note stays.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync(
                "insert into usage_periods (organization_id, period_start, period_end, provider, event_id, created_at) values (@deleted, @now, @now, 'paddle', 'evt_late', @now)",
                new { deleted, now = App.Time.GetUtcNow() });
        (await retention.DeleteDeletedOrganizationsUsageAsync(App.Time.GetUtcNow(), 2, CancellationToken.None, CancellationToken.None)).ShouldBe(1);
        (await UsageRowsAsync(kept)).ShouldBe(keptRows);
    }
}

public sealed class OrganizationUsageErasureTestsOnSqlite(SqliteApp<QuotaSetup> app) : OrganizationUsageErasureTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class OrganizationUsageErasureTestsOnPostgres(PostgresApp<QuotaSetup> app) : OrganizationUsageErasureTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
