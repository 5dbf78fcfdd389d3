namespace Backstop.Tests.Features.Billing;

public abstract class PlansTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_plan_is_created_read_listed_changed_and_every_change_is_audited()
    {
        var code = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        var created = await App.CreatePlanAsync(code, price, trialDays: 14, paddlePriceId: "pri_" + code.Replace("-", ""));
        created.GetProperty("code").GetString().ShouldBe(code);
        created.GetProperty("stripePriceId").GetString().ShouldBe(price);
        created.GetProperty("trialDays").GetInt32().ShouldBe(14);
        created.GetProperty("limits").GetProperty("team_members").GetInt64().ShouldBe(-1);
        created.GetProperty("active").GetBoolean().ShouldBeTrue();

        var admin = App.AdminClient();
        (await (await admin.GetAsync($"/v1/admin/plans/{code}")).JsonAsync()).GetProperty("name").GetString().ShouldBe("Plan " + code);

        var patched = await admin.PatchAsync($"/v1/admin/plans/{code}", JsonContent(new { name = "Pro", limits = new { meetings_per_month = 500 }, stripePriceId = "" }));
        patched.StatusCode.ShouldBe(HttpStatusCode.OK, await patched.Content.ReadAsStringAsync());
        var body = await patched.JsonAsync();
        body.GetProperty("name").GetString().ShouldBe("Pro");
        body.GetProperty("stripePriceId").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        body.GetProperty("trialDays").GetInt32().ShouldBe(14);
        body.GetProperty("limits").EnumerateObject().Select(p => p.Name).ShouldBe(["meetings_per_month"]);

        (await App.CountAsync("select count(*) from audit_log where target_type = 'plan' and target_id = @code", new { code })).ShouldBe(2);
        var audit = await (await admin.GetAsync("/v1/admin/audit?action=plan.update")).JsonAsync();
        var entry = audit.GetProperty("items").EnumerateArray().First(i => i.GetProperty("targetId").GetString() == code);
        entry.GetProperty("changes").GetProperty("name").GetProperty("to").GetString().ShouldBe("Pro");
    }

    [Fact]
    public async Task The_list_pages_through_every_plan_by_code()
    {
        var prefix = "list-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var i in Enumerable.Range(0, 3)) await App.CreatePlanAsync($"{prefix}-{i}");
        var admin = App.AdminClient();
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync("/v1/admin/plans?limit=2" + (cursor is null ? "" : "&cursor=" + cursor))).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("code").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
        } while (cursor is not null);
        seen.ShouldBe(seen.Order(StringComparer.Ordinal).ToList());
        seen.Count(c => c.StartsWith(prefix, StringComparison.Ordinal)).ShouldBe(3);
        seen.ShouldContain("free");
        await (await admin.GetAsync("/v1/admin/plans?cursor=not-a-cursor!")).ShouldBeProblemAsync(400, "invalid_cursor");
    }

    [Theory]
    [InlineData("""{"code":"Bad Code","name":"x"}""", "invalid_plan_code")]
    [InlineData("""{"code":"ok-code","name":"x","limits":{"Meetings":5}}""", "invalid_limits")]
    [InlineData("""{"code":"ok-code","name":"x","limits":{"meetings_per_month":-2}}""", "invalid_limits")]
    [InlineData("""{"code":"ok-code","name":"x","limits":{"meetings_per_month":5,"never_declared_metric":5}}""", "undeclared_metric")]
    [InlineData("""{"code":"ok-code","name":"x","stripePriceId":"prod_123"}""", "invalid_price")]
    [InlineData("""{"code":"ok-code","name":"x","trialDays":-1}""", "invalid_trial_days")]
    [InlineData("""{"code":"ok-code","name":""}""", "validation_failed")]
    public async Task Invalid_plans_are_refused_with_400_and_a_code_and_nothing_is_stored(string json, string code)
    {
        var response = await App.AdminClient().PostAsync("/v1/admin/plans", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeProblemAsync(400, code);
        (await App.CountAsync("select count(*) from plans where code = 'ok-code'")).ShouldBe(0);
    }

    [Fact]
    public async Task A_plan_may_limit_a_metric_only_once_Quota_declares_it()
    {
        var admin = App.AdminClient();
        var code = BillingKit.NewCode();
        var metric = "chatbots_" + Guid.NewGuid().ToString("N")[..8];
        var refused = await admin.PostJsonAsync("/v1/admin/plans", new { code, name = "Bots", limits = new Dictionary<string, long> { [metric] = 5 } });
        await refused.ShouldBeProblemAsync(400, "undeclared_metric");
        (await App.CountAsync($"select count(*) from plans where code = '{code}'")).ShouldBe(0);

        (await admin.PutAsync($"/v1/admin/metrics/{metric}", JsonContent(new { kind = "gauge", description = "Chatbots" }))).IsSuccessStatusCode.ShouldBeTrue();
        (await admin.PostJsonAsync("/v1/admin/plans", new { code, name = "Bots", limits = new Dictionary<string, long> { [metric] = 5 } })).StatusCode.ShouldBe(HttpStatusCode.Created);

        var other = "undeclared_" + Guid.NewGuid().ToString("N")[..8];
        await (await admin.PatchAsync($"/v1/admin/plans/{code}", JsonContent(new { limits = new Dictionary<string, long> { [other] = 1 } })))
            .ShouldBeProblemAsync(400, "undeclared_metric");
        (await (await admin.GetAsync($"/v1/admin/plans/{code}")).Content.ReadAsStringAsync()).ShouldContain(metric);
    }

    [Fact]
    public async Task A_taken_code_or_price_is_409_and_unknown_plans_are_404()
    {
        var code = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(code, price);
        var admin = App.AdminClient();
        await (await admin.PostJsonAsync("/v1/admin/plans", new { code, name = "again" })).ShouldBeProblemAsync(409, "plan_exists");
        await (await admin.PostJsonAsync("/v1/admin/plans", new { code = BillingKit.NewCode(), name = "same price", stripePriceId = price })).ShouldBeProblemAsync(409, "price_in_use");
        await (await admin.GetAsync("/v1/admin/plans/nope-plan")).ShouldBeProblemAsync(404, "plan_not_found");
        await (await admin.PatchAsync("/v1/admin/plans/nope-plan", JsonContent(new { name = "x" }))).ShouldBeProblemAsync(404, "plan_not_found");
        await (await admin.DeleteAsync("/v1/admin/plans/nope-plan")).ShouldBeProblemAsync(404, "plan_not_found");
    }

    [Fact]
    public async Task A_plan_with_live_subscriptions_cannot_be_deactivated_409_with_the_count_and_stays_active()
    {
        var code = BillingKit.NewCode();
        await App.CreatePlanAsync(code, BillingKit.NewPrice());
        foreach (var status in new[] { "active", "past_due" })
            await App.PlantSubscriptionAsync((await App.CreateOrganizationAsync()).Id, code, status, providerSubscriptionId: NewSubscriptionId());
        await App.PlantSubscriptionAsync((await App.CreateOrganizationAsync()).Id, code, "canceled", providerSubscriptionId: NewSubscriptionId());
        var admin = App.AdminClient();

        var patch = await (await admin.PatchAsync($"/v1/admin/plans/{code}", JsonContent(new { active = false }))).ShouldBeProblemAsync(409, "plan_in_use");
        patch.GetProperty("subscriptions").GetInt64().ShouldBe(2);
        var delete = await (await admin.DeleteAsync($"/v1/admin/plans/{code}")).ShouldBeProblemAsync(409, "plan_in_use");
        delete.GetProperty("subscriptions").GetInt64().ShouldBe(2);
        (await (await admin.GetAsync($"/v1/admin/plans/{code}")).JsonAsync()).GetProperty("active").GetBoolean().ShouldBeTrue();

        // Other changes of a plan in use are fine.
        (await admin.PatchAsync($"/v1/admin/plans/{code}", JsonContent(new { name = "Renamed" }))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Delete_removes_a_plan_never_subscribed_to_and_deactivates_one_with_only_ended_subscriptions()
    {
        var unused = BillingKit.NewCode();
        await App.CreatePlanAsync(unused);
        var admin = App.AdminClient();
        var deleted = await (await admin.DeleteAsync($"/v1/admin/plans/{unused}")).JsonAsync();
        deleted.GetProperty("deleted").GetBoolean().ShouldBeTrue();
        (await App.CountAsync("select count(*) from plans where code = @unused", new { unused })).ShouldBe(0);

        var ended = BillingKit.NewCode();
        await App.CreatePlanAsync(ended, BillingKit.NewPrice());
        await App.PlantSubscriptionAsync((await App.CreateOrganizationAsync()).Id, ended, "canceled", providerSubscriptionId: NewSubscriptionId());
        var answer = await (await admin.DeleteAsync($"/v1/admin/plans/{ended}")).JsonAsync();
        answer.GetProperty("deleted").GetBoolean().ShouldBeFalse();
        answer.GetProperty("plan").GetProperty("active").GetBoolean().ShouldBeFalse();
        (await App.CountAsync("select count(*) from plans where code = @ended", new { ended })).ShouldBe(1);
    }

    [Fact]
    public async Task The_default_plan_cannot_be_deactivated_or_deleted()
    {
        var admin = App.AdminClient();
        await (await admin.PatchAsync("/v1/admin/plans/free", JsonContent(new { active = false }))).ShouldBeProblemAsync(409, "default_plan");
        await (await admin.DeleteAsync("/v1/admin/plans/free")).ShouldBeProblemAsync(409, "default_plan");
        (await App.CountAsync("select count(*) from plans where code = 'free' and active = @yes", new { yes = true })).ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_concurrent_deactivations_of_a_plan_without_live_subscriptions_all_succeed_and_leave_it_inactive()
    {
        // 20 deactivations at once of a plan without live subscriptions: all succeed or conflict cleanly, none fails.
        var code = BillingKit.NewCode();
        await App.CreatePlanAsync(code);
        var admin = App.AdminClient();
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => admin.PatchAsync($"/v1/admin/plans/{code}", JsonContent(new { active = false }))));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from plans where code = @code and active = @no", new { code, no = false })).ShouldBe(1);
    }

    [Fact]
    public async Task Tenant_keys_cannot_manage_plans()
    {
        var tenant = await App.CreateTenantAsync("admin");
        (await App.Client(tenant).GetAsync("/v1/admin/plans")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    // The builder's default id is derived from a UUIDv7 prefix, which repeats while the test clock stands still.
    private static string NewSubscriptionId() => "sub_" + Guid.NewGuid().ToString("N")[..20];

    private static StringContent JsonContent(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body, Http.Json), System.Text.Encoding.UTF8, "application/json");
}

public sealed class PlansTestsOnSqlite(SqliteApp<BillingSetup> app) : PlansTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class PlansTestsOnPostgres(PostgresApp<BillingSetup> app) : PlansTests(app), IClassFixture<PostgresApp<BillingSetup>>;
