using System.Net.Http.Json;

namespace Backstop.Tests.Features.Quota;

/// <summary>
/// The API's consumptions are decided in batches, one transaction per batch. These pin what the batching must not
/// change: a change the database refuses fails alone, and two instances on one database still admit exactly the limit.
/// </summary>
public abstract class GroupCommitTests(BackstopFactory app) : AppTest(app)
{
    private const string Counters = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = @metric";

    [Fact]
    public async Task A_change_the_database_refuses_fails_alone_and_its_neighbours_are_counted()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 1000);
        var (tenant, client) = await App.TenantAsync();
        var poison = "poison-" + Guid.NewGuid().ToString("N");
        await RefuseKeyAsync(poison);
        try
        {
            var responses = await QuotaKit.ConcurrentlyAsync(40, i => App.Client(tenant).ConsumeAsync(metric, key: i == 17 ? poison : $"n-{i}"));

            await responses[17].ShouldBeProblemAsync(500, "internal_error");
            responses.Where((_, i) => i != 17).ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
            (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(39);
            (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = @metric",
                new { org = tenant.OrganizationId, metric })).ShouldBe(39);
            // Each admitted request saw its own count, as if it had been alone: 1 … 39, each once.
            var used = new List<long>();
            foreach (var r in responses.Where(r => r.StatusCode == HttpStatusCode.OK)) used.Add((await r.JsonAsync()).GetProperty("used").GetInt64());
            used.Order().ShouldBe(Enumerable.Range(1, 39).Select(i => (long)i));
        }
        finally
        {
            await AllowKeysAsync();
        }

        // Nothing of the refused one was kept: sent again, it counts.
        (await (await client.ConsumeAsync(metric, key: poison)).JsonAsync()).GetProperty("used").GetInt64().ShouldBe(40);
    }

    [Fact]
    public async Task A_key_reused_for_another_amount_in_the_same_burst_is_refused_and_counts_nothing()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 1000);
        var (tenant, _) = await App.TenantAsync();

        var responses = await QuotaKit.ConcurrentlyAsync(20, i => App.Client(tenant).ConsumeAsync(metric, amount: i % 2 == 0 ? 2 : 5, key: "same"));

        var first = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        var reused = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        (first.Count + reused.Count).ShouldBe(20);
        first.Count.ShouldBe(10);
        foreach (var r in reused) await r.ShouldBeProblemAsync(409, "idempotency_key_reused");
        var counted = await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric });
        counted.ShouldBeOneOf(2, 5);
        foreach (var r in first) (await r.JsonAsync()).GetProperty("used").GetInt64().ShouldBe(counted);
    }

    [Fact]
    public async Task Two_instances_on_one_database_admit_exactly_the_limit_and_a_key_sent_to_both_counts_once()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 100);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 80)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using var sibling = new SiblingFactory(App);
        // Started before the burst: WebApplicationFactory starts its host on the first client, and concurrent first
        // calls start several hosts at once (under load their migrators then time out on the migration lock).
        sibling.CreateClient().Dispose();
        HttpClient On(int i)
        {
            var c = i % 2 == 0 ? App.Client(tenant) : sibling.CreateClient();
            c.DefaultRequestHeaders.Authorization = new("Bearer", tenant.Key);
            return c;
        }

        // 64 distinct consumptions and 16 retries of one key, spread over both instances, all at once.
        var responses = await QuotaKit.ConcurrentlyAsync(80, i => On(i).ConsumeAsync(metric, key: i < 64 ? $"d-{i}" : "both"));

        // The 16 retries of one key get one answer (a refusal's problem differs only in its requestId).
        var retried = responses[64..];
        retried.Select(r => r.StatusCode).Distinct().Count().ShouldBe(1);
        var answers = new List<string>();
        foreach (var r in retried)
        {
            var body = await r.JsonAsync();
            answers.Add($"{body.GetProperty("used").GetInt64()}/{body.GetProperty("limit").GetInt64()}");
        }
        answers.Distinct().Count().ShouldBe(1, string.Join(", ", answers));
        var admitted = responses.Take(64).Count(r => r.StatusCode == HttpStatusCode.OK) + (retried[0].StatusCode == HttpStatusCode.OK ? 1 : 0);
        admitted.ShouldBe(20);
        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK || r.StatusCode == HttpStatusCode.Forbidden);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(100);
        // An admitted key is stored once; a refused one is not stored at all (a refusal is decided again on retry).
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = @metric and idempotency_key = 'api:both'",
            new { org = tenant.OrganizationId, metric })).ShouldBe(retried[0].StatusCode == HttpStatusCode.OK ? 1 : 0);
    }

    /// <summary>
    /// A group commit resolves its whole batch with one read per kind (plans, scopes, access) and pipelines its
    /// counters' statements on PostgreSQL: each organization must still get its own limit (a default, a plan's, an
    /// override), its own gate (a suspended one refused, its neighbours not) and its own 404, and two instances firing
    /// at all of them at once still admit exactly each limit.
    /// </summary>
    [Fact]
    public async Task A_burst_over_many_organizations_on_two_instances_admits_exactly_each_organizations_own_limit()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 6, creation: false);
        var orgs = new List<(TestTenant Tenant, long Limit, int Status)>();
        for (var i = 0; i < 6; i++) orgs.Add(((await App.TenantAsync()).Tenant, 6, 200));
        orgs.Add(((await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 4 })).Tenant, 4, 200));
        orgs.Add(((await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 4 }, status: "suspended")).Tenant, 4, 402));
        var overridden = (await App.TenantAsync()).Tenant;
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{overridden.OrganizationId}/usage/{metric}/limit",
            new { limit = 3, reason = "test" }, Http.Json)).StatusCode.ShouldBe(HttpStatusCode.OK);
        orgs.Add((overridden, 3, 200));
        await using var sibling = new SiblingFactory(App);
        // Started before the burst: WebApplicationFactory starts its host on the first client, and concurrent first
        // calls start several hosts at once (under load their migrators then time out on the migration lock).
        sibling.CreateClient().Dispose();
        HttpClient On(int i, TestTenant tenant)
        {
            var c = i % 2 == 0 ? App.Client(tenant) : sibling.CreateClient();
            c.DefaultRequestHeaders.Authorization = new("Bearer", tenant.Key);
            return c;
        }

        // 10 consumptions per organization (more than any limit), interleaved, on both instances, all at once; and
        // one request per organization for a metric nobody declared.
        const int Each = 10;
        var undeclared = "m_undeclared_" + Guid.NewGuid().ToString("N")[..8];
        var responses = await QuotaKit.ConcurrentlyAsync(orgs.Count * (Each + 1), i =>
        {
            var (tenant, _, _) = orgs[i % orgs.Count];
            return i / orgs.Count == Each
                ? On(i, tenant).ConsumeAsync(undeclared, key: $"u-{i}")
                : On(i, tenant).ConsumeAsync(metric, key: $"k-{i}");
        });

        for (var o = 0; o < orgs.Count; o++)
        {
            var (tenant, limit, status) = orgs[o];
            var mine = Enumerable.Range(0, Each).Select(n => responses[n * orgs.Count + o]).ToList();
            await responses[Each * orgs.Count + o].ShouldBeProblemAsync(404, "unknown_metric");
            var counted = await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric });
            if (status == 402)
            {
                foreach (var r in mine) await r.ShouldBeProblemAsync(402, "subscription_suspended");
                counted.ShouldBe(0);
                continue;
            }
            mine.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe((int)limit, $"organization {o} (limit {limit})");
            mine.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK || r.StatusCode == HttpStatusCode.Forbidden);
            counted.ShouldBe(limit);
            foreach (var r in mine) (await r.JsonAsync()).GetProperty("limit").GetInt64().ShouldBe(limit);
            (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = @metric",
                new { org = tenant.OrganizationId, metric })).ShouldBe(limit);
        }
    }

    /// <summary>A trigger that makes the database refuse to store one idempotency key, as a failing disk or constraint would.</summary>
    private async Task RefuseKeyAsync(string key)
    {
        await using var connection = await App.OpenAsync();
        if (App.Service<Db>().Dialect == Dialect.Sqlite)
            await connection.ExecuteAsync(
                $"create trigger test_refuse_key before insert on usage_idempotency when new.idempotency_key = 'api:{key}' begin select raise(abort, 'refused by the test'); end");
        else
        {
            await connection.ExecuteAsync(
                $$"""
                create or replace function test_refuse_key() returns trigger language plpgsql as $f$
                begin
                    if new.idempotency_key = 'api:{{key}}' then raise exception 'refused by the test'; end if;
                    return new;
                end $f$
                """);
            await connection.ExecuteAsync("create trigger test_refuse_key before insert on usage_idempotency for each row execute function test_refuse_key()");
        }
    }

    private async Task AllowKeysAsync()
    {
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(App.Service<Db>().Dialect == Dialect.Sqlite
            ? "drop trigger if exists test_refuse_key"
            : "drop trigger if exists test_refuse_key on usage_idempotency");
    }
}

public sealed class GroupCommitTestsOnSqlite(SqliteApp<QuotaSetup> app) : GroupCommitTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class GroupCommitTestsOnPostgres(PostgresApp<QuotaSetup> app) : GroupCommitTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
