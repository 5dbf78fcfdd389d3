namespace Backstop.Tests.Features.Billing;

/// <summary>Stripe's events carry whole seconds: two of one second are ordered by status and period, and a tie or a backwards step is settled by asking Stripe.</summary>
public abstract class SubscriptionEventOrderTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.Stripe();

    private async Task<(TestTenant Tenant, string Subscription, string Price)> ArrangeAsync(string status, DateTimeOffset? trialEnd = null)
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        var now = App.Time.GetUtcNow();
        Stripe.PlantSubscription(sub, "cus_" + sub, price, status, now.AddDays(-1), now.AddDays(29), trialEnd: trialEnd,
            metadata: new Dictionary<string, object?> { ["organization_id"] = tenant.OrganizationId });
        return (tenant, sub, price);
    }

    [Fact]
    public async Task Two_events_of_one_second_delivered_in_reverse_leave_the_newer_state()
    {
        var (tenant, sub, _) = await ArrangeAsync("trialing", App.Time.GetUtcNow().AddDays(29));
        var second = App.Time.GetUtcNow().Second();
        var trialing = Stripe.Snapshot(sub);
        // The trial ends: Stripe's subscription becomes active in the same second.
        lock (Stripe.Subscriptions[sub]) { Stripe.Subscriptions[sub]["status"] = "active"; Stripe.Subscriptions[sub]["trial_end"] = second.ToUnixTimeSeconds(); }
        var active = Stripe.Snapshot(sub);

        await App.DeliverStripeAsync("customer.subscription.updated", active, second);
        await App.DeliverStripeAsync("customer.subscription.updated", trialing, second);

        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.Status.ShouldBe("active");
        await App.DispatchOutboxAsync();
        Stripe.Received("GET", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem();
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.Status.ShouldBe("active");
    }

    [Fact]
    public async Task A_tie_of_one_second_is_settled_by_what_Stripe_says()
    {
        var (tenant, sub, _) = await ArrangeAsync("active");
        var second = App.Time.GetUtcNow().Second();
        var before = Stripe.Snapshot(sub);
        lock (Stripe.Subscriptions[sub]) Stripe.Subscriptions[sub]["cancel_at_period_end"] = true;
        var cancelling = Stripe.Snapshot(sub);

        // Same second, same status, same period: the delivery order cannot tell which is newer.
        await App.DeliverStripeAsync("customer.subscription.updated", cancelling, second);
        await App.DeliverStripeAsync("customer.subscription.updated", before, second);
        App.Time.Advance(TimeSpan.FromSeconds(2));
        await App.DispatchOutboxAsync();

        var local = (await App.LocalSubscriptionAsync(tenant.OrganizationId))!;
        local.CancelAtPeriodEnd.ShouldBeTrue();
        local.Status.ShouldBe("active");
        // An event older than the state Stripe answered changes nothing.
        await App.DeliverStripeAsync("customer.subscription.updated", before, second);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
    }
}

public sealed class SubscriptionEventOrderTestsOnSqlite(SqliteApp<BillingSetup> app) : SubscriptionEventOrderTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class SubscriptionEventOrderTestsOnPostgres(PostgresApp<BillingSetup> app) : SubscriptionEventOrderTests(app), IClassFixture<PostgresApp<BillingSetup>>;
