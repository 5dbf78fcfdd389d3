using System.Net.Http.Json;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Jobs;
using Backstop.Tests.Features.Bots;

namespace Backstop.Tests.Features.Quota;

/// <summary>
/// Allowances on their own clock (a metric's window, not the plan's interval), replays answered before anything is
/// checked, refusals decided again, metrics Backstop counts closed to the API, releases that cannot invent usage.
/// </summary>
public abstract class AllowanceTests(BackstopFactory app) : AppTest(app)
{
    private const string Counters = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = @metric";

    private static DateTimeOffset Utc(int y, int m, int d, int h = 0, int min = 0) => new(y, m, d, h, min, 0, TimeSpan.Zero);

    private async Task<string> DeclareAsync(string kind, long? defaultLimit, string? window = null, string? displayName = null, string? unit = null,
        bool creation = true)
    {
        var name = "m_" + Guid.NewGuid().ToString("N")[..12];
        var response = await App.AdminClient().PutAsJsonAsync($"/v1/admin/metrics/{name}",
            new { kind, description = "test", defaultLimit, creation, window, displayName, unit }, Http.Json);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return name;
    }

    private async Task SetPeriodAsync(string organizationId, DateTimeOffset start, DateTimeOffset end)
    {
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync("update subscriptions set current_period_start = @start, current_period_end = @end where organization_id = @organizationId",
            new { organizationId, start, end });
    }

    [Fact]
    public async Task Declaring_a_metric_is_audited()
    {
        var name = await DeclareAsync("counter", 10, window: "month");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from audit_log where action = 'usage_metric.put' and target_id = @name and request_id is not null",
            new { name })).ShouldBe(1);
    }

    [Fact]
    public async Task An_annual_plans_monthly_limit_resets_on_the_anchors_day_each_month_clamped_through_a_leap_year()
    {
        var metric = await DeclareAsync("counter", defaultLimit: null);
        App.Time.SetUtcNow(Utc(2032, 1, 31, 9));
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 2 });
        // A yearly subscription anchored on 31 January of a leap year.
        await SetPeriodAsync(tenant.OrganizationId, Utc(2032, 1, 31, 9), Utc(2033, 1, 31, 9));

        DateTimeOffset[] starts =
        [
            Utc(2032, 1, 31, 9), Utc(2032, 2, 29, 9), Utc(2032, 3, 31, 9), Utc(2032, 4, 30, 9), Utc(2032, 5, 31, 9), Utc(2032, 6, 30, 9),
            Utc(2032, 7, 31, 9), Utc(2032, 8, 31, 9), Utc(2032, 9, 30, 9), Utc(2032, 10, 31, 9), Utc(2032, 11, 30, 9), Utc(2032, 12, 31, 9),
            Utc(2033, 1, 31, 9), Utc(2033, 2, 28, 9),
        ];
        for (var i = 0; i < starts.Length - 1; i++)
        {
            App.Time.SetUtcNow(starts[i].AddMinutes(1));
            var first = await client.ConsumeAsync(metric, 2);
            var body = await first.JsonAsync();
            first.StatusCode.ShouldBe(HttpStatusCode.OK, $"month {i}: {body}");
            body.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(starts[i], $"month {i}");
            body.GetProperty("periodEnd").GetDateTimeOffset().ShouldBe(starts[i + 1], $"month {i}");
            body.GetProperty("used").GetInt64().ShouldBe(2);

            // Still this month's allowance one minute before the next anchor day: 100 a month, not 100 a year.
            App.Time.SetUtcNow(starts[i + 1].AddMinutes(-1));
            var refused = await (await client.ConsumeAsync(metric)).ShouldBeProblemAsync(403, "quota_exceeded");
            refused.GetProperty("resetsAt").GetDateTimeOffset().ShouldBe(starts[i + 1]);
        }
        (await App.CountAsync("select count(*) from usage_counters where organization_id = @org and metric = @metric",
            new { org = tenant.OrganizationId, metric })).ShouldBe(13);
    }

    [Fact]
    public async Task A_billing_period_window_follows_the_plans_interval_and_a_day_window_the_UTC_day()
    {
        var yearly = await DeclareAsync("counter", defaultLimit: null, window: "billing_period");
        var daily = await DeclareAsync("counter", defaultLimit: null, window: "day");
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [yearly] = 1, [daily] = 1 });
        var now = App.Time.GetUtcNow();
        await SetPeriodAsync(tenant.OrganizationId, now.AddDays(-1), now.AddDays(-1).AddYears(1));

        (await client.ConsumeAsync(yearly)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ConsumeAsync(daily)).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromDays(40));
        await (await client.ConsumeAsync(yearly)).ShouldBeProblemAsync(403, "quota_exceeded");
        var day = await (await client.ConsumeAsync(daily)).JsonAsync();
        var today = App.Time.GetUtcNow();
        day.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(new DateTimeOffset(today.Year, today.Month, today.Day, 0, 0, 0, TimeSpan.Zero));

        var metric = await (await App.AdminClient().GetAsync("/v1/admin/metrics")).JsonAsync();
        metric.GetProperty("items").EnumerateArray().Single(m => m.GetProperty("name").GetString() == daily).GetProperty("window").GetString().ShouldBe("day");
    }

    [Fact]
    public async Task A_gauge_cannot_declare_a_reset_window()
    {
        var response = await App.AdminClient().PutAsJsonAsync($"/v1/admin/metrics/g_{Guid.NewGuid():N}"[..30],
            new { kind = "gauge", description = "x", defaultLimit = 1, window = "month" }, Http.Json);
        await response.ShouldBeProblemAsync(400, "invalid_window");
    }

    [Fact]
    public async Task A_keyed_consume_replayed_after_the_organization_went_past_due_gets_its_stored_200()
    {
        var metric = await DeclareAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 10 });
        var first = await client.ConsumeAsync(metric, 3, key: "order-17");
        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await first.Content.ReadAsStringAsync();

        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update subscriptions set status = 'past_due' where organization_id = @org", new { org = tenant.OrganizationId });

        var replay = await client.ConsumeAsync(metric, 3, key: "order-17");
        replay.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await replay.Content.ReadAsStringAsync()).ShouldBe(body);
        await (await client.ConsumeAsync(metric, 3, key: "order-18")).ShouldBeProblemAsync(402, "payment_past_due");
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(3);
    }

    [Fact]
    public async Task A_refused_consume_retried_with_its_key_after_an_upgrade_is_admitted()
    {
        var metric = await DeclareAsync("counter", defaultLimit: null);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 2 });
        await (await client.ConsumeAsync(metric, 3, key: "big-job")).ShouldBeProblemAsync(403, "quota_exceeded");
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(0);

        var bigger = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(bigger, new Dictionary<string, long> { [metric] = 5 });
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update subscriptions set plan_code = @bigger where organization_id = @org", new { bigger, org = tenant.OrganizationId });

        var retried = await client.ConsumeAsync(metric, 3, key: "big-job");
        retried.StatusCode.ShouldBe(HttpStatusCode.OK, await retried.Content.ReadAsStringAsync());
        (await retried.JsonAsync()).GetProperty("used").GetInt64().ShouldBe(3);
        // And from now on it is final.
        (await client.ConsumeAsync(metric, 3, key: "big-job")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(3);
    }

    [Fact]
    public async Task A_tenants_keys_live_in_their_own_space_and_cannot_answer_for_Backstops_own()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 100);
        var (tenant, client) = await App.TenantAsync();
        var meter = App.Service<IUsageMeter>();
        var scope = await meter.PrepareAsync(tenant.OrganizationId, metric, requireLimit: true, CancellationToken.None);
        await App.Service<Db>().InTransactionAsync(async (c, tx) =>
            await meter.ConsumeAsync(c, tx, scope, 5, "meeting:abc", CancellationToken.None), CancellationToken.None);

        // The same text as a tenant's key is a different key: counted, not answered with Backstop's stored 5.
        var response = await (await client.ConsumeAsync(metric, 5, key: "meeting:abc")).JsonAsync();
        response.GetProperty("used").GetInt64().ShouldBe(10);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and idempotency_key in ('meeting:abc', 'api:meeting:abc')",
            new { org = tenant.OrganizationId })).ShouldBe(2);
    }

    [Theory]
    [InlineData("team_members")]
    [InlineData("storage_bytes")]
    [InlineData("meetings_per_month")]
    public async Task Metrics_Backstop_counts_cannot_be_consumed_released_or_set_through_the_API(string metric)
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { [metric] = 100 });

        await (await client.ConsumeAsync(metric)).ShouldBeProblemAsync(403, "metric_managed_by_backstop");
        await (await client.ReleaseAsync(metric)).ShouldBeProblemAsync(403, "metric_managed_by_backstop");
        await (await client.PutAsJsonAsync($"/v1/usage/{metric}", new { value = 0, asOf = App.Time.GetUtcNow() }, Http.Json))
            .ShouldBeProblemAsync(403, "metric_managed_by_backstop");
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(0);
        // Reading is still allowed.
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task A_built_in_metric_is_recognised_by_its_column_not_by_a_list()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 10);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update usage_metrics set built_in = @yes where name = @metric", new { metric, yes = true });
        var (_, client) = await App.TenantAsync();
        await (await client.ConsumeAsync(metric)).ShouldBeProblemAsync(403, "metric_managed_by_backstop");
    }

    [Fact]
    public async Task Releasing_more_than_is_used_is_409_and_changes_nothing()
    {
        var gauge = await DeclareAsync("gauge", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        await (await client.ReleaseAsync(gauge, 1, key: "r0")).ShouldBeProblemAsync(409, "release_exceeds_usage");
        (await client.ConsumeAsync(gauge, 2)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var problem = await (await client.ReleaseAsync(gauge, 3, key: "r1")).ShouldBeProblemAsync(409, "release_exceeds_usage");
        problem.GetProperty("used").GetInt64().ShouldBe(2);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = gauge })).ShouldBe(2);
        // Not stored as final: the same key releasing what is used succeeds.
        (await client.ReleaseAsync(gauge, 2, key: "r1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = gauge })).ShouldBe(0);
    }

    [Fact]
    public async Task Removing_a_member_gives_back_its_team_members_slot()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["team_members"] = 2 });
        var ids = new List<string>();
        foreach (var email in new[] { "a", "b" })
        {
            var added = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members",
                new { email = $"{email}-{Guid.NewGuid():N}@example.com", role = "member" });
            added.StatusCode.ShouldBe(HttpStatusCode.Created);
            ids.Add((await added.JsonAsync()).GetProperty("id").GetString()!);
        }
        (await client.UsageAsync("team_members")).GetProperty("used").GetInt64().ShouldBe(2);
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members",
            new { email = $"c-{Guid.NewGuid():N}@example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members/{ids[0]}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await client.UsageAsync("team_members")).GetProperty("used").GetInt64().ShouldBe(1);
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members",
            new { email = $"d-{Guid.NewGuid():N}@example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_commit_error_reported_after_the_database_committed_counts_each_request_once()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 1000);
        var (tenant, _) = await App.TenantAsync();
        var commit = App.Service<UsageGroupCommit>();
        var faults = 0;
        // The first batch commits, then its acknowledgement is lost (as a connection reset after COMMIT would).
        commit.AfterCommit = () => Interlocked.Increment(ref faults) == 1 ? throw new IOException("connection reset after commit") : Task.CompletedTask;
        try
        {
            // Keyless: a replayed key could not show a second count; a request decided twice would.
            var responses = await QuotaKit.ConcurrentlyAsync(30, _ => App.Client(tenant).ConsumeAsync(metric));

            responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
            faults.ShouldBeGreaterThanOrEqualTo(1);
            (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(30);
            var used = new List<long>();
            foreach (var r in responses) used.Add((await r.JsonAsync()).GetProperty("used").GetInt64());
            used.Order().ShouldBe(Enumerable.Range(1, 30).Select(i => (long)i));
        }
        finally
        {
            commit.AfterCommit = null;
        }
    }

    [Fact]
    public async Task Reconciliation_after_an_operator_reset_leaves_the_reset()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 10 });
        await client.CreateMeetingAsync();
        await client.CreateMeetingAsync();
        (await client.UsageAsync("meetings_per_month")).GetProperty("used").GetInt64().ShouldBe(2);
        App.Time.Advance(TimeSpan.FromMinutes(1));
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/meetings_per_month/reset",
            new { reason = "goodwill after an outage" })).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.Service<JobRunner>().RunAsync("usage-reconciliation", CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await client.UsageAsync("meetings_per_month")).GetProperty("used").GetInt64().ShouldBe(0);

        // What is created after the reset still counts, and a consumption lost since is still repaired.
        await client.CreateMeetingAsync();
        await client.CreateMeetingAsync();
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update usage_counters set used = 1 where organization_id = @org and metric = 'meetings_per_month'",
                new { org = tenant.OrganizationId });
        (await App.Service<JobRunner>().RunAsync("usage-reconciliation", CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await client.UsageAsync("meetings_per_month")).GetProperty("used").GetInt64().ShouldBe(2);
        (await App.CountAsync("select count(*) from usage_drift where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task Releases_and_sets_through_the_API_are_audited_in_their_transaction()
    {
        var gauge = await DeclareAsync("gauge", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(gauge, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ReleaseAsync(gauge, 2, key: "del-1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ReleaseAsync(gauge, 2, key: "del-1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await client.ReleaseAsync(gauge, 5)).ShouldBeProblemAsync(409, "release_exceeds_usage");
        var now = App.Time.GetUtcNow();
        (await client.PutAsJsonAsync($"/v1/usage/{gauge}", new { value = 7, asOf = now }, Http.Json)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PutAsJsonAsync($"/v1/usage/{gauge}", new { value = 4, asOf = now.AddMinutes(-5) }, Http.Json)).StatusCode.ShouldBe(HttpStatusCode.OK);

        const string Rows = "select count(*) from audit_log where organization_id = @org and action = @action";
        // One release counted (the replay and the refusal changed nothing), one set applied (the older one was ignored).
        (await App.CountAsync(Rows, new { org = tenant.OrganizationId, action = "usage.release" })).ShouldBe(1);
        (await App.CountAsync(Rows, new { org = tenant.OrganizationId, action = "usage.set" })).ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where organization_id = @org and action = 'usage.release' and actor = @actor",
            new { org = tenant.OrganizationId, actor = tenant.Key[..21] })).ShouldBe(1);
    }

    private async Task AddOwnerAsync(string organizationId, string email) =>
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/members", new { email, role = "owner" }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);

    [Fact]
    public async Task Fifty_concurrent_consumptions_crossing_80_and_100_percent_raise_each_notice_exactly_once()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 50, displayName: "messages");
        var (tenant, client) = await App.TenantAsync();
        var owner = $"owner-{Guid.NewGuid():N}@example.com";
        await AddOwnerAsync(tenant.OrganizationId, owner);
        (await client.ConsumeAsync(metric, 30)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var responses = await QuotaKit.ConcurrentlyAsync(50, i => App.Client(tenant).ConsumeAsync(metric, key: $"n-{i}"));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(20);
        const string Notices = "select count(*) from usage_notices where organization_id = @org and metric = @metric and threshold = @threshold";
        (await App.CountAsync(Notices, new { org = tenant.OrganizationId, metric, threshold = 80 })).ShouldBe(1);
        (await App.CountAsync(Notices, new { org = tenant.OrganizationId, metric, threshold = 100 })).ShouldBe(1);
        const string Emails = "select count(*) from outbox_messages where channel = 'email' and idempotency_key like @key";
        (await App.CountAsync(Emails, new { key = $"usage-notice:{tenant.OrganizationId}:{metric}:%:80:{owner}" })).ShouldBe(1);
        (await App.CountAsync(Emails, new { key = $"usage-notice:{tenant.OrganizationId}:{metric}:%:100:{owner}" })).ShouldBe(1);

        // A reset lets the counter cross again in the same period: no second notice.
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/usage/{metric}/reset", new { reason = "test" }))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ConsumeAsync(metric, 45)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // Threshold notices (threshold 0 records the period's usage.limit_reached event, UsageEvents).
        (await App.CountAsync("select count(*) from usage_notices where organization_id = @org and threshold > 0", new { org = tenant.OrganizationId })).ShouldBe(2);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @key", new { key = $"usage-notice:{tenant.OrganizationId}:%" }))
            .ShouldBe(2);
    }

    [Fact]
    public async Task A_soft_limit_admits_past_the_limit_counts_the_overage_and_raises_the_100_percent_notice()
    {
        var name = "soft_" + Guid.NewGuid().ToString("N")[..10];
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/metrics/{name}",
            new { kind = "counter", description = "x", defaultLimit = 10, limitMode = "soft", thresholds = new[] { 100 } }, Http.Json))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var (tenant, client) = await App.TenantAsync();
        await AddOwnerAsync(tenant.OrganizationId, $"owner-{Guid.NewGuid():N}@example.com");

        (await client.ConsumeAsync(name, 8)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var over = await client.ConsumeAsync(name, 5);

        over.StatusCode.ShouldBe(HttpStatusCode.OK);
        var reading = await client.UsageAsync(name);
        reading.GetProperty("used").GetInt64().ShouldBe(13);
        reading.GetProperty("overage").GetInt64().ShouldBe(3);
        reading.GetProperty("remaining").GetInt64().ShouldBe(0);
        (await App.CountAsync("select count(*) from usage_notices where organization_id = @org and threshold = 100", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from usage_notices where organization_id = @org and threshold = 80", new { org = tenant.OrganizationId })).ShouldBe(0);

        // A hard limit still refuses, and shows no overage.
        var hard = await DeclareAsync("counter", defaultLimit: 10);
        (await client.ConsumeAsync(hard, 10)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await client.ConsumeAsync(hard)).ShouldBeProblemAsync(403, "quota_exceeded");
        (await client.UsageAsync(hard)).GetProperty("overage").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task A_batch_of_100_with_3_bad_items_decides_97_answers_3_errors_in_one_transaction()
    {
        var limited = await DeclareAsync("counter", defaultLimit: 50);
        var open = await DeclareAsync("counter", defaultLimit: 1000);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["team_members"] = 10 });
        var items = Enumerable.Range(0, 100).Select(i => (object)(i < 60
            ? new { metric = limited, amount = 1, idempotencyKey = $"l-{i}" }
            : new { metric = open, amount = 2, idempotencyKey = $"o-{i}" })).ToList();
        items[7] = new { metric = "no_such_metric", amount = 1, idempotencyKey = "bad-1" };
        items[42] = new { metric = open, amount = 0, idempotencyKey = "bad-2" };
        items[99] = new { metric = "team_members", amount = 1, idempotencyKey = "bad-3" };
        var commitsBefore = await App.CountAsync("select count(*) from usage_commits");

        var response = await client.PostJsonAsync("/v1/usage/batch", new { items });

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        var results = body.GetProperty("items").EnumerateArray().ToList();
        results.Count.ShouldBe(100);
        results.Select(r => r.GetProperty("index").GetInt32()).ShouldBe(Enumerable.Range(0, 100));
        results[7].GetProperty("code").GetString().ShouldBe("unknown_metric");
        results[42].GetProperty("code").GetString().ShouldBe("invalid_amount");
        results[99].GetProperty("code").GetString().ShouldBe("metric_managed_by_backstop");
        // 58 good items on the limited metric: 50 admitted, 8 refused; 39 on the open one, all admitted.
        body.GetProperty("admitted").GetInt32().ShouldBe(89);
        body.GetProperty("refused").GetInt32().ShouldBe(8);
        body.GetProperty("failed").GetInt32().ShouldBe(3);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = limited })).ShouldBe(50);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = open })).ShouldBe(78);
        (await App.CountAsync("select count(*) from usage_commits")).ShouldBe(commitsBefore + 1);

        // The batch again: every admitted item is a replay (nothing more counted); refused ones are decided again.
        var again = await (await client.PostJsonAsync("/v1/usage/batch", new { items })).JsonAsync();
        again.GetProperty("admitted").GetInt32().ShouldBe(89);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric = open })).ShouldBe(78);
        await (await client.PostJsonAsync("/v1/usage/batch", new { items = Enumerable.Range(0, 101).Select(_ => new { metric = open }) }))
            .ShouldBeProblemAsync(400, "batch_too_large");
    }

    [Fact]
    public async Task A_batch_decides_one_counters_items_in_the_order_sent_each_against_the_count_before_it()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 10);
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["team_members"] = 10 });
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);
        long[] amounts = [3, 5, 2, 1, 1, 6];
        var items = amounts.Select((a, i) => new { metric, amount = a, idempotencyKey = $"ordered-{i}" }).ToList();

        var body = await (await client.PostJsonAsync("/v1/usage/batch", new { items })).JsonAsync();

        // 4 + 3 = 7; 7 + 5 > 10 refused at 7; 7 + 2 = 9; 9 + 1 = 10; 10 + 1 refused at 10; 10 + 6 refused at 10.
        var results = body.GetProperty("items").EnumerateArray().ToList();
        results.Select(r => r.GetProperty("status").GetInt32()).ShouldBe([200, 403, 200, 200, 403, 403]);
        results.Select(r => r.GetProperty("usage").GetProperty("used").GetInt64()).ShouldBe([7L, 7, 9, 10, 10, 10]);
        (await App.CountAsync(Counters, new { org = tenant.OrganizationId, metric })).ShouldBe(10);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = @metric and status = 200",
            new { org = tenant.OrganizationId, metric })).ShouldBe(3); // the admitted items; refusals keep no key
    }

    [Fact]
    public async Task History_lists_past_periods_newest_first_until_their_retention()
    {
        var metric = await DeclareAsync("counter", defaultLimit: 100);
        var (_, client) = await App.TenantAsync();
        var used = new[] { 3L, 5L, 7L };
        var starts = new List<DateTimeOffset>();
        foreach (var amount in used)
        {
            var reading = await (await client.ConsumeAsync(metric, amount)).JsonAsync();
            starts.Add(reading.GetProperty("periodStart").GetDateTimeOffset());
            App.Time.SetUtcNow(reading.GetProperty("periodEnd").GetDateTimeOffset().AddHours(1));
        }

        var history = await (await client.GetAsync($"/v1/usage/{metric}/history?periods=2")).JsonAsync();

        var items = history.GetProperty("items").EnumerateArray().ToList();
        items.Select(i => i.GetProperty("used").GetInt64()).ShouldBe([7L, 5L]);
        items.Select(i => i.GetProperty("periodStart").GetDateTimeOffset()).ShouldBe([starts[2], starts[1]]);
        var all = await (await client.GetAsync($"/v1/usage/{metric}/history")).JsonAsync();
        all.GetProperty("items").GetArrayLength().ShouldBe(3);
        await (await client.GetAsync($"/v1/usage/{metric}/history?periods=0")).ShouldBeProblemAsync(400, "validation_failed");

        App.Time.Advance(TimeSpan.FromDays(800 - 45));
        await App.Service<JobRunner>().RunAsync("usage-key-retention", CancellationToken.None);
        var kept = await (await client.GetAsync($"/v1/usage/{metric}/history")).JsonAsync();
        kept.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("used").GetInt64()).ShouldBe([7L, 5L]);
    }

    [Fact]
    public async Task A_counters_keys_are_kept_for_its_windows_longest_period_plus_seven_days()
    {
        var monthly = await DeclareAsync("counter", defaultLimit: 100);
        var yearly = await DeclareAsync("counter", defaultLimit: 100, window: "year");
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(monthly, 1, key: "m")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.ConsumeAsync(yearly, 1, key: "y")).StatusCode.ShouldBe(HttpStatusCode.OK);
        const string Keys = "select count(*) from usage_idempotency where organization_id = @org and metric = @metric";

        App.Time.Advance(TimeSpan.FromDays(37));
        await App.Service<JobRunner>().RunAsync("usage-key-retention", CancellationToken.None);
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, metric = monthly })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromDays(2));
        await App.Service<JobRunner>().RunAsync("usage-key-retention", CancellationToken.None);
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, metric = monthly })).ShouldBe(0);
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, metric = yearly })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromDays(335));
        await App.Service<JobRunner>().RunAsync("usage-key-retention", CancellationToken.None);
        (await App.CountAsync(Keys, new { org = tenant.OrganizationId, metric = yearly })).ShouldBe(0);
    }
}

public sealed class AllowanceTestsOnSqlite(SqliteApp<QuotaSetup> app) : AllowanceTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class AllowanceTestsOnPostgres(PostgresApp<QuotaSetup> app) : AllowanceTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
