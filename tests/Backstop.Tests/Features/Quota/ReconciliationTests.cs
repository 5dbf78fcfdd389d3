using System.Net.Http.Json;
using Backstop.Infrastructure.Jobs;
using Backstop.Tests.Features.Bots;

namespace Backstop.Tests.Features.Quota;

public abstract class ReconciliationTests(BackstopFactory app) : AppTest(app)
{
    private const string Used = "select used from usage_counters where organization_id = @org and metric = @metric order by period_start desc limit 1";

    [Fact]
    public async Task Reconciliation_repairs_planted_drift_and_records_it()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 10, ["team_members"] = 5, ["storage_bytes"] = 1_000_000 });
        var org = tenant.OrganizationId;
        for (var i = 0; i < 2; i++)
            (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org}/members", new { email = $"m{i}@example.com", role = "member" }))
                .StatusCode.ShouldBe(HttpStatusCode.Created);
        var meeting = await client.CreateMeetingAsync();
        await client.CreateMeetingAsync();
        await using (var connection = await App.OpenAsync())
        {
            // Drift as it happens: a member removed behind the meter's back, a lost consumption, audio stored uncounted.
            await connection.ExecuteAsync("update usage_counters set used = 7 where organization_id = @org and metric = 'team_members'", new { org });
            await connection.ExecuteAsync("update usage_counters set used = 0 where organization_id = @org and metric = 'meetings_per_month'", new { org });
            await connection.ExecuteAsync("update meetings set audio_key = 'k', audio_size = 4321 where id = @id", new { id = meeting.GetProperty("id").GetString() });
        }

        var run = await App.Service<JobRunner>().RunAsync("usage-reconciliation", CancellationToken.None);

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.CountAsync(Used, new { org, metric = "team_members" })).ShouldBe(2);
        (await App.CountAsync(Used, new { org, metric = "meetings_per_month" })).ShouldBe(2);
        (await App.CountAsync(Used, new { org, metric = "storage_bytes" })).ShouldBe(4321);
        (await App.CountAsync("select count(*) from usage_drift where organization_id = @org", new { org })).ShouldBe(3);

        var drift = await (await App.AdminClient().GetAsync($"/v1/admin/usage/drift?organizationId={org}")).JsonAsync();
        var items = drift.GetProperty("items").EnumerateArray().ToList();
        items.Count.ShouldBe(3);
        var members = items.Single(i => i.GetProperty("metric").GetString() == "team_members");
        members.GetProperty("stored").GetInt64().ShouldBe(7);
        members.GetProperty("counted").GetInt64().ShouldBe(2);
        members.GetProperty("corrected").GetBoolean().ShouldBeTrue();

        // Nothing drifted since: a second run records nothing.
        (await App.Service<JobRunner>().RunAsync("usage-reconciliation", CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.CountAsync("select count(*) from usage_drift where organization_id = @org", new { org })).ShouldBe(3);
        (await client.UsageAsync("meetings_per_month")).GetProperty("used").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task An_application_gauge_is_set_to_its_value_and_an_older_set_is_ignored()
    {
        var gauge = await App.DeclareMetricAsync("gauge", defaultLimit: 10);
        var (_, client) = await App.TenantAsync();
        var now = App.Time.GetUtcNow();

        var first = await (await client.PutAsJsonAsync($"/v1/usage/{gauge}", new { value = 12, asOf = now }, Http.Json)).JsonAsync();
        first.GetProperty("applied").GetBoolean().ShouldBeTrue();
        first.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(12);

        var stale = await (await client.PutAsJsonAsync($"/v1/usage/{gauge}", new { value = 3, asOf = now.AddMinutes(-1) }, Http.Json)).JsonAsync();
        stale.GetProperty("applied").GetBoolean().ShouldBeFalse();
        stale.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(12);

        var later = await (await client.PutAsJsonAsync($"/v1/usage/{gauge}", new { value = 4, asOf = now.AddMinutes(1) }, Http.Json)).JsonAsync();
        later.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(4);

        await (await client.PutAsJsonAsync("/v1/usage/team_members", new { value = 1, asOf = now }, Http.Json)).ShouldBeProblemAsync(403, "metric_managed_by_backstop");
    }

    [Fact]
    public async Task Metrics_are_declared_with_a_kind_that_cannot_change_once_used()
    {
        var admin = App.AdminClient();
        var listed = await (await admin.GetAsync("/v1/admin/metrics")).JsonAsync();
        var builtIn = listed.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("name").GetString()!, i => i.GetProperty("kind").GetString());
        builtIn["meetings_per_month"].ShouldBe("counter");
        builtIn["team_members"].ShouldBe("gauge");
        builtIn["storage_bytes"].ShouldBe("gauge");

        await (await admin.PutAsJsonAsync("/v1/admin/metrics/team_members", new { kind = "counter" }, Http.Json)).ShouldBeProblemAsync(409, "metric_in_use");
        var metric = await App.DeclareMetricAsync("gauge", defaultLimit: 3);
        (await admin.PutAsJsonAsync($"/v1/admin/metrics/{metric}", new { kind = "counter", description = "changed before any use", defaultLimit = 3 }, Http.Json))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var (_, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await admin.PutAsJsonAsync($"/v1/admin/metrics/{metric}", new { kind = "gauge" }, Http.Json)).ShouldBeProblemAsync(409, "metric_in_use");
        await (await admin.PutAsJsonAsync("/v1/admin/metrics/Bad-Name", new { kind = "gauge" }, Http.Json)).ShouldBeProblemAsync(400, "invalid_metric_name");
    }

    [Fact]
    public async Task An_operator_reset_is_audited_with_its_reason()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 3 });
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var admin = App.AdminClient();
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/reset", new { })).ShouldBeProblemAsync(400, "validation_failed");

        var reset = await admin.PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/reset", new { reason = "support ticket 42" });

        reset.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(0);
        (await App.CountAsync("select count(*) from audit_log where action = 'usage.reset' and organization_id = @org and changes like '%support ticket 42%'",
            new { org = tenant.OrganizationId })).ShouldBe(1);
    }
}

public sealed class ReconciliationTestsOnSqlite(SqliteApp<QuotaSetup> app) : ReconciliationTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class ReconciliationTestsOnPostgres(PostgresApp<QuotaSetup> app) : ReconciliationTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
