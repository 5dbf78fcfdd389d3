using System.Net.Http.Json;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Quota;

public abstract class ConsumeTests(BackstopFactory app) : AppTest(app)
{
    private const string Counters = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = @metric";

    [Fact]
    public async Task Five_concurrent_consumes_at_four_of_five_admit_exactly_one()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var responses = await QuotaKit.ConcurrentlyAsync(5, i => App.Client(tenant).ConsumeAsync(metric, key: $"k{i}"));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.Forbidden).ToList();
        refused.Count.ShouldBe(4);
        foreach (var r in refused)
        {
            var problem = await r.ShouldBeProblemAsync(403, "quota_exceeded");
            problem.GetProperty("used").GetInt64().ShouldBe(5);
            problem.GetProperty("limit").GetInt64().ShouldBe(5);
            // Without a subscription the period is the calendar month (UTC).
            var now = App.Time.GetUtcNow();
            problem.GetProperty("resetsAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1));
        }
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(5);
    }

    [Fact]
    public async Task Sixty_four_concurrent_consumes_at_ten_below_the_limit_admit_exactly_ten()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 100);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 90)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var responses = await QuotaKit.ConcurrentlyAsync(64, i => App.Client(tenant).ConsumeAsync(metric, key: $"burst-{i}"));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(10);
        responses.Count(r => r.StatusCode == HttpStatusCode.Forbidden).ShouldBe(54);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(100);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = @metric and status = 200",
            new { org = tenant.OrganizationId, metric })).ShouldBe(10);
        // Every admitted request saw its own count: 91 … 100, each once.
        var used = new List<long>();
        foreach (var r in responses.Where(r => r.StatusCode == HttpStatusCode.OK)) used.Add((await r.JsonAsync()).GetProperty("used").GetInt64());
        used.Order().ShouldBe(Enumerable.Range(91, 10).Select(i => (long)i));
    }

    [Fact]
    public async Task One_idempotency_key_sent_twenty_times_concurrently_counts_once_and_answers_the_same()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 50);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 7)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var responses = await QuotaKit.ConcurrentlyAsync(20, _ => App.Client(tenant).ConsumeAsync(metric, 3, key: "retry-me"));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));
        bodies.Distinct().Count().ShouldBe(1, string.Join("\n", bodies.Distinct()));
        JsonDocument.Parse(bodies[0]).RootElement.GetProperty("used").GetInt64().ShouldBe(10);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(10);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and idempotency_key = 'api:retry-me'",
            new { org = tenant.OrganizationId })).ShouldBe(1);

        // Later retries too, and the same key with another amount is refused rather than answered wrongly.
        (await (await client.ConsumeAsync(metric, 3, key: "retry-me")).Content.ReadAsStringAsync()).ShouldBe(bodies[0]);
        await (await client.ConsumeAsync(metric, 4, key: "retry-me")).ShouldBeProblemAsync(409, "idempotency_key_reused");
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(10);
    }

    [Fact]
    public async Task A_refused_consumption_retried_with_its_key_is_decided_again_and_refused_while_it_still_does_not_fit()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 2);
        var (tenant, client) = await App.TenantAsync();
        await (await client.ConsumeAsync(metric, 3, key: "too-much")).ShouldBeProblemAsync(403, "quota_exceeded");
        var again = await (await client.ConsumeAsync(metric, 3, key: "too-much")).ShouldBeProblemAsync(403, "quota_exceeded");
        again.GetProperty("used").GetInt64().ShouldBe(0);
        again.GetProperty("limit").GetInt64().ShouldBe(2);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(0);
    }

    [Fact]
    public async Task Concurrent_releases_never_go_below_zero_and_counters_cannot_be_released()
    {
        var gauge = await App.DeclareMetricAsync("gauge", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(gauge, 2)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var responses = await QuotaKit.ConcurrentlyAsync(20, i => App.Client(tenant).ReleaseAsync(gauge, 1, key: $"r{i}"));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(2);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(18);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = gauge })).ShouldBe(0);
        await (await client.ReleaseAsync(gauge, 5)).ShouldBeProblemAsync(409, "release_exceeds_usage");
        (await client.ConsumeAsync(gauge, 1)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var after = await (await client.ReleaseAsync(gauge, 1)).JsonAsync();
        after.GetProperty("used").GetInt64().ShouldBe(0);
        after.GetProperty("remaining").GetInt64().ShouldBe(10);
        after.GetProperty("periodStart").ValueKind.ShouldBe(JsonValueKind.Null);

        var counter = await App.DeclareMetricAsync("counter", defaultLimit: 10);
        await (await client.ReleaseAsync(counter)).ShouldBeProblemAsync(409, "metric_not_a_gauge");
    }

    [Fact]
    public async Task A_new_period_starts_a_fresh_counter_and_the_old_periods_row_stays()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 3);
        var gauge = await App.DeclareMetricAsync("gauge", defaultLimit: 3);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ConsumeAsync(gauge, 2)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var before = await client.UsageAsync(metric);
        var end = before.GetProperty("periodEnd").GetDateTimeOffset();
        await (await client.ConsumeAsync(metric)).ShouldBeProblemAsync(403, "quota_exceeded");

        // Nothing runs at the renewal: the clock passing the period's end is enough.
        App.Time.SetUtcNow(end.AddSeconds(1));
        var fresh = await (await client.ConsumeAsync(metric)).JsonAsync();
        fresh.GetProperty("used").GetInt64().ShouldBe(1);
        fresh.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(end);

        (await App.CountAsync("select used from usage_counters where organization_id = @org and metric = @metric and period_start < @end",
            new { org = tenant.OrganizationId, metric, end })).ShouldBe(3);
        (await App.CountAsync("select count(*) from usage_counters where organization_id = @org and metric = @metric",
            new { org = tenant.OrganizationId, metric })).ShouldBe(2);
        // A gauge does not reset with the period.
        (await client.UsageAsync(gauge)).GetProperty("used").GetInt64().ShouldBe(2);
    }

    [Fact]
    public async Task A_subscription_period_rolls_over_by_its_anchor_without_any_event()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 2 });
        var first = await (await client.ConsumeAsync(metric, 2)).JsonAsync();
        var start = first.GetProperty("periodStart").GetDateTimeOffset();
        start.ShouldBe(App.Time.GetUtcNow().AddDays(-1));
        var end = first.GetProperty("periodEnd").GetDateTimeOffset();

        // The subscription row still says the old period (the renewal webhook was missed).
        App.Time.SetUtcNow(end.AddHours(2));
        var nextResponse = await client.ConsumeAsync(metric);
        nextResponse.StatusCode.ShouldBe(HttpStatusCode.OK, await nextResponse.Content.ReadAsStringAsync());
        var next = await nextResponse.JsonAsync();
        next.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(end);
        next.GetProperty("periodEnd").GetDateTimeOffset().ShouldBe(start.AddMonths(2));
        next.GetProperty("used").GetInt64().ShouldBe(1);
    }

    [Fact]
    public async Task Undeclared_metrics_and_metrics_without_a_limit_are_unknown()
    {
        var (_, client) = await App.TenantAsync();
        await (await client.ConsumeAsync("no_such_metric")).ShouldBeProblemAsync(404, "unknown_metric");
        var unlimitedByNoOne = await App.DeclareMetricAsync("counter", defaultLimit: null);
        await (await client.ConsumeAsync(unlimitedByNoOne)).ShouldBeProblemAsync(404, "unknown_metric");
        (await client.GetAsync($"/v1/usage/{unlimitedByNoOne}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_override_wins_over_the_plan_and_minus_one_is_unlimited()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 1 });
        var set = await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/limit",
            new { limit = -1, reason = "enterprise trial" }, Http.Json);
        set.StatusCode.ShouldBe(HttpStatusCode.OK);
        var reading = await (await client.ConsumeAsync(metric, 1000)).JsonAsync();
        reading.GetProperty("limit").GetInt64().ShouldBe(-1);
        reading.GetProperty("remaining").ValueKind.ShouldBe(JsonValueKind.Null);

        var list = await (await client.GetAsync("/v1/usage")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metric").GetString()).ShouldContain(metric);
    }

    [Fact]
    public async Task Past_due_refuses_creation_metrics_and_still_allows_reads_and_other_uses()
    {
        var create = await App.DeclareMetricAsync("counter", defaultLimit: null, creation: true);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [create] = 10 }, status: "past_due");
        var use = await App.DeclareMetricAsync("counter", defaultLimit: 10, creation: false);

        await (await client.ConsumeAsync(create)).ShouldBeProblemAsync(402, "payment_past_due");
        (await client.UsageAsync(create)).GetProperty("used").GetInt64().ShouldBe(0);
        (await client.ConsumeAsync(use)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = create })).ShouldBe(0);
    }

    [Fact]
    public async Task Suspended_organizations_consume_nothing()
    {
        var (_, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 10 }, status: "suspended");
        var use = await App.DeclareMetricAsync("counter", defaultLimit: 10, creation: false);
        await (await client.ConsumeAsync(use)).ShouldBeProblemAsync(402, "subscription_suspended");
    }

    [Fact]
    public async Task Stored_keys_past_their_retention_are_deleted_and_newer_ones_still_answer()
    {
        var metric = await App.DeclareMetricAsync("gauge", defaultLimit: 100);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 2, key: "kept-old")).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromDays(36));
        var recent = await (await client.ConsumeAsync(metric, 3, key: "kept-new")).Content.ReadAsStringAsync();

        var run = await App.Service<JobRunner>().RunAsync("usage-key-retention", CancellationToken.None);

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        const string Keys = "select count(*) from usage_idempotency where organization_id = @org and idempotency_key = @key";
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, key = "api:kept-old" })).ShouldBe(0);
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, key = "api:kept-new" })).ShouldBe(1);
        (await (await client.ConsumeAsync(metric, 3, key: "kept-new")).Content.ReadAsStringAsync()).ShouldBe(recent);
        // What was counted stays counted: only the key went.
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(5);
    }
}

public sealed class ConsumeTestsOnSqlite(SqliteApp<QuotaSetup> app) : ConsumeTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class ConsumeTestsOnPostgres(PostgresApp<QuotaSetup> app) : ConsumeTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
