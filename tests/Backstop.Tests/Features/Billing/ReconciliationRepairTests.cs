using Backstop.Features.Billing;
using Backstop.Features.Billing.Reconciliation;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>Reconciliation under the default <c>Billing:Reconcile = repair</c>: access follows Stripe, one row per drift, one digest a day.</summary>
public abstract class ReconciliationRepairTests(BackstopFactory app) : AppTest(app)
{
    private Task<JobRun> ReconcileAsync() => App.Service<JobRunner>().RunAsync(ReconciliationJob.Id, CancellationToken.None);

    [Fact]
    public async Task Reconciliation_repairs_an_access_denying_drift_keeps_one_row_per_drift_and_emails_one_digest()
    {
        // A day of its own: the digest is one a day, and another test of the class may have sent today's.
        App.Time.Advance(TimeSpan.FromDays(3));
        var digestKey = $"billing-reconciliation-digest:{App.Time.GetUtcNow().UtcDateTime:yyyy-MM-dd}";
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        var now = App.Time.GetUtcNow().Second();
        // We missed the payment: locally suspended since a grace ended, at Stripe active and paid.
        await App.PlantSubscriptionAsync(org, plan, "suspended", sub, graceEndsAt: now.AddDays(-1), paymentFailedAt: now.AddDays(-8), retryCount: 3);
        await App.ExecuteAsync("update subscriptions set provider_price_id = @price where organization_id = @org", new { price, org });
        App.Stripe().PlantSubscription(sub, "cus_" + Guid.NewGuid().ToString("N")[..12], price, "active", now.AddDays(-1), now.AddDays(29));
        await App.ExecuteAsync("update subscriptions set current_period_end = @end where organization_id = @org", new { end = now.AddDays(29), org });
        (await (await App.Client(tenant).GetAsync("/v1/billing/access")).JsonAsync()).GetProperty("canCreate").GetBoolean().ShouldBeFalse();

        (await ReconcileAsync()).Outcome.ShouldBe(JobRunner.Succeeded);

        var row = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        row.Status.ShouldBe("active");
        row.GraceEndsAt.ShouldBeNull();
        row.PaymentRetryCount.ShouldBe(0);
        await App.Service<IAccessGate>().EnsureAllowedAsync(org, GatedAction.Create, null, CancellationToken.None);
        (await App.CountAsync("select count(*) from billing_discrepancies where provider_subscription_id = @sub and field = 'status' and repaired = @yes", new { sub, yes = true }))
            .ShouldBe(1);
        var digest = (await App.EmailsAsync(digestKey)).ShouldHaveSingleItem();
        digest.To.ShouldBe(BillingSetup.AlertEmail);
        digest.Text.ShouldContain(sub);

        // A second run the same day: the drift is gone (its row resolved), no second row, no second digest.
        (await ReconcileAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.CountAsync("select count(*) from billing_discrepancies where provider_subscription_id = @sub and field = 'status'", new { sub })).ShouldBe(1);
        (await App.CountAsync("select count(*) from billing_discrepancies where provider_subscription_id = @sub and field = 'status' and resolved = @yes", new { sub, yes = true }))
            .ShouldBe(1);
        (await App.EmailsAsync(digestKey)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_live_Stripe_subscription_of_ours_missing_locally_is_created()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        var now = App.Time.GetUtcNow().Second();
        var stripe = App.Stripe().PlantSubscription(sub, "cus_" + Guid.NewGuid().ToString("N")[..12], price, "active", now.AddDays(-1), now.AddDays(29));
        stripe["metadata"] = new Dictionary<string, object?> { ["organization_id"] = tenant.OrganizationId };

        (await ReconcileAsync()).Outcome.ShouldBe(JobRunner.Succeeded);

        var row = (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldNotBeNull();
        row.ProviderSubscriptionId.ShouldBe(sub);
        row.Status.ShouldBe("active");
        row.PlanCode.ShouldBe(plan);
        row.CurrentPeriodEnd.ShouldBe(now.AddDays(29));
        (await App.CountAsync("select count(*) from billing_discrepancies where provider_subscription_id = @sub and field = 'subscription' and repaired = @yes", new { sub, yes = true }))
            .ShouldBe(1);
    }
}

public sealed class ReconciliationRepairLifecycleTestsOnSqlite(SqliteApp<BillingRepairSetup> app) : ReconciliationRepairTests(app), IClassFixture<SqliteApp<BillingRepairSetup>>;

public sealed class ReconciliationRepairLifecycleTestsOnPostgres(PostgresApp<BillingRepairSetup> app) : ReconciliationRepairTests(app), IClassFixture<PostgresApp<BillingRepairSetup>>;
