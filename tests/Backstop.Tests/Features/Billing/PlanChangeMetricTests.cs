using System.Net.Http.Json;
using Backstop.Tests.Features.Quota;

namespace Backstop.Tests.Features.Billing;

/// <summary>Downgrade checks cover every metric the target plan limits: an application's own, named by its declared unit.</summary>
public abstract class PlanChangeMetricTests(BackstopFactory app) : AppTest(app)
{
    protected abstract StripeTestServer Stripe { get; }

    /// <summary>A subscribed organization holding 3 chatbots, and a plan allowing 1 (everything else as "pro").</summary>
    protected async Task<(PlanArrangement A, string Small, string Metric)> ArrangeChatbotsAsync()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var metric = "chatbots_" + Guid.NewGuid().ToString("N")[..8];
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/metrics/{metric}",
                new { kind = "gauge", description = "Chatbots", defaultLimit = 10, displayName = "chatbots", unit = "chatbot(s)" }, Http.Json))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var small = "small-" + Guid.NewGuid().ToString("N")[..8];
        await App.PlantPlanAsync(small, new Dictionary<string, long>
            { ["meetings_per_month"] = 100, ["team_members"] = 10, ["storage_bytes"] = 1_000_000, [metric] = 1 }, "price_" + small);
        (await App.Client(a.Tenant).ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        return (a, small, metric);
    }
}

public abstract class PlanChangePreviewMetricTests(BackstopFactory app) : PlanChangeMetricTests(app)
{
    protected override StripeTestServer Stripe => App.SetupAs<PlanChangeSetup>().Stripe;

    [Fact]
    public async Task The_preview_of_a_downgrade_lists_an_application_metric_with_its_unit()
    {
        var (a, small, metric) = await ArrangeChatbotsAsync();

        var response = await App.Client(a.Tenant).GetAsync($"/v1/billing/plan-change?plan={small}");

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("direction").GetString().ShouldBe("downgrade");
        var violation = body.GetProperty("violations").EnumerateArray().Single();
        violation.GetProperty("type").GetString().ShouldBe(metric);
        violation.GetProperty("current").GetInt64().ShouldBe(3);
        violation.GetProperty("limit").GetInt64().ShouldBe(1);
        violation.GetProperty("sentence").GetString().ShouldBe($"Your organization has 3 chatbot(s) but the {small} plan allows 1");
    }
}

public abstract class PlanChangeRefuseMetricTests(BackstopFactory app) : PlanChangeMetricTests(app)
{
    protected override StripeTestServer Stripe => App.SetupAs<RefusingPlanChangeSetup>().Stripe;

    [Fact]
    public async Task The_refuse_policy_blocks_a_downgrade_over_an_application_metric_saying_what_to_delete()
    {
        var (a, small, _) = await ArrangeChatbotsAsync();

        var problem = await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = small }))
            .ShouldBeProblemAsync(409, "downgrade_blocked");

        problem.GetProperty("remove").EnumerateArray().Select(r => r.GetString()).ShouldBe(["Please delete 2 chatbot(s) before downgrading"]);
        (await App.SqlScalarAsync<string?>("select pending_plan_code from subscriptions where id = @id", new { id = a.SubscriptionRowId })).ShouldBeNull();
    }
}

public sealed class PlanChangePreviewMetricTestsOnSqlite(SqliteApp<PlanChangeSetup> app) : PlanChangePreviewMetricTests(app), IClassFixture<SqliteApp<PlanChangeSetup>>;

public sealed class PlanChangePreviewMetricTestsOnPostgres(PostgresApp<PlanChangeSetup> app) : PlanChangePreviewMetricTests(app), IClassFixture<PostgresApp<PlanChangeSetup>>;

public sealed class PlanChangeRefuseMetricTestsOnSqlite(SqliteApp<RefusingPlanChangeSetup> app) : PlanChangeRefuseMetricTests(app), IClassFixture<SqliteApp<RefusingPlanChangeSetup>>;

public sealed class PlanChangeRefuseMetricTestsOnPostgres(PostgresApp<RefusingPlanChangeSetup> app) : PlanChangeRefuseMetricTests(app), IClassFixture<PostgresApp<RefusingPlanChangeSetup>>;
