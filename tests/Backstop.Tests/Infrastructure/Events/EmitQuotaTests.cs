using Backstop.Infrastructure.Events;
using Backstop.Tests.Features.Quota;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>
/// Quota's events through <c>POST /v1/usage/{metric}/consume</c>: a threshold crossed, and the limit reached once per
/// period and metric — by the consumption that makes used equal the limit, or by the first refusal.
/// </summary>
public abstract class EmitQuotaTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Crossing_80_percent_and_reaching_the_limit_write_one_event_each_and_a_refusal_after_it_none()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();

        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.EventsAsync(tenant.OrganizationId, "usage.")).ShouldBeEmpty();
        (await client.ConsumeAsync(metric, 1)).StatusCode.ShouldBe(HttpStatusCode.OK); // 4 of 5: 80 %
        (await client.ConsumeAsync(metric, 1)).StatusCode.ShouldBe(HttpStatusCode.OK); // 5 of 5: 100 %, the limit
        (await client.ConsumeAsync(metric, 1)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await client.ConsumeAsync(metric, 1)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var events = await App.EventsAsync(tenant.OrganizationId, "usage.");
        events.Select(e => e.Type).ShouldBe([EventTypes.UsageThresholdReached, EventTypes.UsageLimitReached, EventTypes.UsageThresholdReached],
            ignoreOrder: true);
        events.ShouldAllBe(e => e.OrganizationId == tenant.OrganizationId);
        var eighty = events.Single(e => e.Type == EventTypes.UsageThresholdReached && e.Data.GetProperty("threshold").GetInt32() == 80);
        eighty.Data.GetProperty("usage").GetProperty("metric").GetString().ShouldBe(metric);
        eighty.Data.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(4);
        eighty.Data.GetProperty("usage").GetProperty("limit").GetInt64().ShouldBe(5);
        events.Single(e => e.Type == EventTypes.UsageThresholdReached && e.Data.GetProperty("threshold").GetInt32() == 100)
            .Data.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(5);
        var limit = events.Single(e => e.Type == EventTypes.UsageLimitReached);
        limit.Data.GetProperty("refused").GetBoolean().ShouldBeFalse();
        limit.Data.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(5);
        limit.Data.GetProperty("usage").GetProperty("remaining").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task A_refusal_before_the_counter_equals_the_limit_reaches_it_once_and_a_refused_request_of_another_kind_writes_nothing()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();

        (await client.ConsumeAsync(metric, 2, key: "k1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The same key for another amount: 409, nothing counted, no event.
        await (await client.ConsumeAsync(metric, 3, key: "k1")).ShouldBeProblemAsync(409, "idempotency_key_reused");
        (await App.EventsAsync(tenant.OrganizationId, "usage.")).ShouldBeEmpty();

        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.Forbidden); // 2 + 4 > 5: refused
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK); // 5 of 5: thresholds, but the limit was reached already

        var events = await App.EventsAsync(tenant.OrganizationId, "usage.");
        var limit = events.Where(e => e.Type == EventTypes.UsageLimitReached).ShouldHaveSingleItem();
        limit.Data.GetProperty("refused").GetBoolean().ShouldBeTrue();
        limit.Data.GetProperty("usage").GetProperty("used").GetInt64().ShouldBe(2);
        events.Where(e => e.Type == EventTypes.UsageThresholdReached).Select(e => e.Data.GetProperty("threshold").GetInt32()).ShouldBe([80, 100], ignoreOrder: true);
        var all = await App.EventsAsync(tenant.OrganizationId);
        all.Select(e => e.Sequence).ShouldBe(Enumerable.Range(1, all.Count).Select(i => (long)i).ToList());
    }
}

public sealed class EmitQuotaTestsOnSqlite(SqliteApp<QuotaSetup> app) : EmitQuotaTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class EmitQuotaTestsOnPostgres(PostgresApp<QuotaSetup> app) : EmitQuotaTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
