using Backstop.Features.Billing.Reconciliation;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

public abstract class ReconciliationTests(BackstopFactory app, bool repair) : AppTest(app)
{
    private Task<JobRun> ReconcileAsync() => App.Service<JobRunner>().RunAsync(ReconciliationJob.Id, CancellationToken.None);

    private sealed record Found(string Field, string? Ours, string? Stripe, bool Repaired);

    private async Task<List<Found>> FoundAsync(string subscriptionId)
    {
        var page = await (await App.AdminClient().GetAsync("/v1/admin/billing/discrepancies?limit=100")).JsonAsync();
        return page.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("providerSubscriptionId").GetString() == subscriptionId)
            .Select(i => new Found(i.GetProperty("field").GetString()!, i.GetProperty("ours").GetString(), i.GetProperty("stripe").GetString(), i.GetProperty("repaired").GetBoolean()))
            .OrderBy(f => f.Field, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task A_planted_drift_is_found_and_repaired_only_under_repair()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var now = App.Time.GetUtcNow().Second();

        // In step with Stripe: nothing to report.
        var inStep = (await App.CreateOrganizationAsync()).Id;
        var inStepSub = $"sub_{Guid.NewGuid():N}"[..24];
        App.Stripe().PlantSubscription(inStepSub, "cus_a", price, "past_due", now.AddDays(-1), now.AddDays(29));
        await App.DeliverStripeAsync("customer.subscription.updated", BillingKit.StripeSubscription(inStepSub, "cus_a", price, "past_due", now.AddDays(-1), now.AddDays(29), organizationId: inStep), now);
        // Backstop's suspension is no drift from Stripe's past_due.
        await App.ExecuteAsync("update subscriptions set status = 'suspended' where organization_id = @inStep", new { inStep });

        // Drifted: Stripe has it canceling at period end and a later period; we missed the events.
        var drifted = (await App.CreateOrganizationAsync()).Id;
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.DeliverStripeAsync("customer.subscription.updated", BillingKit.StripeSubscription(sub, "cus_b", price, "active", now.AddDays(-1), now.AddDays(29), organizationId: drifted), now);
        App.Stripe().PlantSubscription(sub, "cus_b", price, "past_due", now.AddDays(29), now.AddDays(59), cancelAtPeriodEnd: true);

        // Filler so the listing takes more than one page of 100.
        foreach (var i in Enumerable.Range(0, 101 - App.Stripe().Subscriptions.Count % 100))
            App.Stripe().PlantSubscription($"sub_filler{i:D3}{Guid.NewGuid():N}"[..24], "cus_f", "price_elsewhere", "canceled", now.AddDays(-60), now.AddDays(-30));

        var run = await ReconcileAsync();
        run.Outcome.ShouldBe(JobRunner.Succeeded);
        App.Stripe().Received("GET", "/v1/subscriptions").Count.ShouldBeGreaterThanOrEqualTo(2);
        App.Stripe().Received("GET", "/v1/subscriptions").ShouldContain(r => r.Query.GetValueOrDefault("starting_after") != null);
        App.Stripe().Received("GET", "/v1/subscriptions").ShouldAllBe(r => r.Query["status"] == "all" && r.Query["limit"] == "100");

        (await FoundAsync(inStepSub)).ShouldBeEmpty();
        var found = await FoundAsync(sub);
        found.Select(f => f.Field).ShouldBe(["cancel_at_period_end", "current_period_end", "status"]);
        found.Single(f => f.Field == "status").ShouldBe(new Found("status", "active", "past_due", repair));
        found.Single(f => f.Field == "cancel_at_period_end").ShouldBe(new Found("cancel_at_period_end", "false", "true", repair));

        var state = (await App.LocalSubscriptionAsync(drifted)).ShouldNotBeNull();
        if (repair)
        {
            state.Status.ShouldBe("past_due");
            state.CancelAtPeriodEnd.ShouldBeTrue();
            state.CurrentPeriodEnd.ShouldBe(now.AddDays(59));
            (await App.CountAsync("select count(*) from audit_log where action = 'subscription.repair' and organization_id = @drifted", new { drifted })).ShouldBe(1);
        }
        else
        {
            state.Status.ShouldBe("active");
            state.CancelAtPeriodEnd.ShouldBeFalse();
            state.CurrentPeriodEnd.ShouldBe(now.AddDays(29));
        }
    }

    [Fact]
    public async Task A_live_local_subscription_Stripe_does_not_have_is_reported()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var org = (await App.CreateOrganizationAsync()).Id;
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.PlantSubscriptionAsync(org, plan, "active", sub);
        (await ReconcileAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        (await FoundAsync(sub)).ShouldHaveSingleItem().ShouldBe(new Found("subscription", "active", null, false));
    }
}

public sealed class ReconciliationReportTestsOnSqlite(SqliteApp<BillingSetup> app) : ReconciliationTests(app, false), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class ReconciliationReportTestsOnPostgres(PostgresApp<BillingSetup> app) : ReconciliationTests(app, false), IClassFixture<PostgresApp<BillingSetup>>;

public sealed class ReconciliationRepairTestsOnSqlite(SqliteApp<BillingRepairSetup> app) : ReconciliationTests(app, true), IClassFixture<SqliteApp<BillingRepairSetup>>;

public sealed class ReconciliationRepairTestsOnPostgres(PostgresApp<BillingRepairSetup> app) : ReconciliationTests(app, true), IClassFixture<PostgresApp<BillingRepairSetup>>;
