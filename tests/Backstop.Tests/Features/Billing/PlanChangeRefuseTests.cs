namespace Backstop.Tests.Features.Billing;

/// <summary><c>Billing:DowngradePolicy=refuse</c>: a downgrade that would violate the new plan is refused with what to remove.</summary>
public abstract class PlanChangeRefuseTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.SetupAs<RefusingPlanChangeSetup>().Stripe;

    [Fact]
    public async Task A_violating_downgrade_answers_409_downgrade_blocked_with_the_counts_and_nothing_reaches_Stripe()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        for (var i = 0; i < 3; i++) await App.AddPlanMemberAsync(a.OrganizationId, $"m{i}-{Guid.NewGuid():N}@example.com");

        var problem = await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic }))
            .ShouldBeProblemAsync(409, "downgrade_blocked");

        problem.GetProperty("detail").GetString()!.ShouldContain("Remove 3 team members before downgrading");
        var violation = problem.GetProperty("violations").EnumerateArray().Single();
        violation.GetProperty("type").GetString().ShouldBe("team_members");
        violation.GetProperty("current").GetInt64().ShouldBe(4);
        violation.GetProperty("limit").GetInt64().ShouldBe(1);
        problem.GetProperty("remove").EnumerateArray().Select(r => r.GetString()).ShouldBe(["Remove 3 team members before downgrading"]);
        Stripe.Received("POST", "/v1/subscription_schedules").ShouldNotContain(r => r.Form.GetValueOrDefault("from_subscription") == a.StripeSubscriptionId);
        (await App.SqlScalarAsync<string?>("select pending_plan_code from subscriptions where id = @id", new { id = a.SubscriptionRowId })).ShouldBeNull();
    }

    [Fact]
    public async Task A_downgrade_that_fits_the_new_plan_is_scheduled_under_the_refuse_policy_too()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);

        var response = await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await App.SqlScalarAsync<string?>("select pending_plan_code from subscriptions where id = @id", new { id = a.SubscriptionRowId })).ShouldBe(a.Basic);
    }
}

public sealed class PlanChangeRefuseTestsOnSqlite(SqliteApp<RefusingPlanChangeSetup> app) : PlanChangeRefuseTests(app), IClassFixture<SqliteApp<RefusingPlanChangeSetup>>;

public sealed class PlanChangeRefuseTestsOnPostgres(PostgresApp<RefusingPlanChangeSetup> app) : PlanChangeRefuseTests(app), IClassFixture<PostgresApp<RefusingPlanChangeSetup>>;
