using System.Globalization;
using Backstop.Features.Billing.PlanChanges;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>A downgrade claim whose request died before recording its schedule is resolved from Stripe's state after 15 minutes.</summary>
public abstract class PlanChangeClaimSweepTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.SetupAs<PlanChangeSetup>().Stripe;

    private async Task<(string? Pending, string? Schedule)> LocalAsync(string rowId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string?, string?)>("select pending_plan_code, pending_schedule_id from subscriptions where id = @rowId", new { rowId });
    }

    private Task ClaimAsync(PlanArrangement a) =>
        App.ExecuteAsync("update subscriptions set pending_plan_code = @basic, pending_change_at = @end, pending_schedule_id = null, updated_at = @now where id = @id",
            new { basic = a.Basic, end = a.PeriodEnd, now = App.Time.GetUtcNow(), id = a.SubscriptionRowId });

    [Fact]
    public async Task A_claim_older_than_15_minutes_is_recorded_when_Stripe_has_its_schedule_and_given_back_when_it_has_none()
    {
        // Died after Stripe scheduled the downgrade, before it was recorded.
        var scheduled = await App.ArrangeSubscribedAsync(Stripe);
        await ClaimAsync(scheduled);
        var schedule = Stripe.AttachSchedule(scheduled.StripeSubscriptionId);
        var phase = Stripe.Phases(schedule).Single();
        Stripe.UpdateSchedule(new StripeRequest("POST", $"/v1/subscription_schedules/{schedule}", new Dictionary<string, string>(), new Dictionary<string, string>
        {
            ["phases[0][items][0][price]"] = "price_" + scheduled.Pro,
            ["phases[0][start_date]"] = ((long)phase["start_date"]!).ToString(CultureInfo.InvariantCulture),
            ["phases[0][end_date]"] = ((long)phase["end_date"]!).ToString(CultureInfo.InvariantCulture),
            ["phases[1][items][0][price]"] = "price_" + scheduled.Basic, ["phases[1][duration][interval]"] = "month",
        }, null, "", null)).Status.ShouldBe(200);
        // Died between the claim and the first Stripe call.
        var orphan = await App.ArrangeSubscribedAsync(Stripe);
        await ClaimAsync(orphan);
        var runner = App.Service<JobRunner>();

        App.Time.Advance(TimeSpan.FromMinutes(14));
        (await runner.RunAsync(PlanChangeClaimSweep.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await LocalAsync(scheduled.SubscriptionRowId)).ShouldBe((scheduled.Basic, null));
        (await LocalAsync(orphan.SubscriptionRowId)).ShouldBe((orphan.Basic, null));

        App.Time.Advance(TimeSpan.FromMinutes(2));
        (await runner.RunAsync(PlanChangeClaimSweep.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);

        (await LocalAsync(scheduled.SubscriptionRowId)).ShouldBe((scheduled.Basic, schedule));
        Stripe.Schedules[schedule]["status"].ShouldBe("active");
        (await LocalAsync(orphan.SubscriptionRowId)).ShouldBe((null, null));
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.plan_change_cancel' and organization_id = @id", new { id = orphan.OrganizationId })).ShouldBe(1);
    }
}

public sealed class PlanChangeClaimSweepTestsOnSqlite(SqliteApp<PlanChangeSetup> app) : PlanChangeClaimSweepTests(app), IClassFixture<SqliteApp<PlanChangeSetup>>;

public sealed class PlanChangeClaimSweepTestsOnPostgres(PostgresApp<PlanChangeSetup> app) : PlanChangeClaimSweepTests(app), IClassFixture<PostgresApp<PlanChangeSetup>>;
