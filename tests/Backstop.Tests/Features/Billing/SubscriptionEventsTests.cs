namespace Backstop.Tests.Features.Billing;

public abstract class SubscriptionEventsTests(BackstopFactory app) : AppTest(app)
{
    private async Task<(string Plan, string Price, TestTenant Tenant)> ArrangeAsync()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        return (plan, price, await App.CreateTenantAsync("admin"));
    }

    private static string NewId(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task Shuffled_subscription_events_leave_the_newest_state()
    {
        var (plan, price, tenant) = await ArrangeAsync();
        var upgrade = BillingKit.NewCode();
        var upgradePrice = BillingKit.NewPrice();
        await App.CreatePlanAsync(upgrade, upgradePrice);
        var sub = NewId("sub");
        var customer = NewId("cus");
        var t0 = App.Time.GetUtcNow().Second();
        var org = tenant.OrganizationId;
        var events = new List<(string Type, Dictionary<string, object?> Object, DateTimeOffset Created)>
        {
            ("customer.subscription.created", BillingKit.StripeSubscription(sub, customer, price, "incomplete", t0, t0.AddDays(30), organizationId: org), t0),
            ("customer.subscription.updated", BillingKit.StripeSubscription(sub, customer, price, "active", t0, t0.AddDays(30), organizationId: org), t0.AddSeconds(10)),
            ("customer.subscription.updated", BillingKit.StripeSubscription(sub, customer, price, "past_due", t0, t0.AddDays(30), organizationId: org), t0.AddDays(30)),
            ("customer.subscription.updated", BillingKit.StripeSubscription(sub, customer, upgradePrice, "active", t0.AddDays(30), t0.AddDays(60), organizationId: org), t0.AddDays(31)),
            ("customer.subscription.paused", BillingKit.StripeSubscription(sub, customer, upgradePrice, "paused", t0.AddDays(30), t0.AddDays(60), organizationId: org), t0.AddDays(40)),
            ("customer.subscription.resumed", BillingKit.StripeSubscription(sub, customer, upgradePrice, "active", t0.AddDays(30), t0.AddDays(60), true, org), t0.AddDays(45)),
        };
        var newest = events[^1];
        foreach (var e in events.OrderBy(_ => Random.Shared.Next())) await App.DeliverStripeAsync(e.Type, e.Object, e.Created);

        var state = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        state.Status.ShouldBe("active");
        state.PlanCode.ShouldBe(upgrade);
        state.ProviderPriceId.ShouldBe(upgradePrice);
        state.CurrentPeriodStart.ShouldBe(t0.AddDays(30));
        state.CurrentPeriodEnd.ShouldBe(t0.AddDays(60));
        state.CancelAtPeriodEnd.ShouldBeTrue();
        state.ProviderUpdatedAt.ShouldBe(newest.Created);
        state.ProviderSubscriptionId.ShouldBe(sub);
        (await App.CountAsync("select count(*) from webhook_events where provider = 'stripe' and status = 'processed' and payload like @p", new { p = $"%{sub}%" })).ShouldBe(6);
    }

    [Fact]
    public async Task Twenty_concurrent_subscription_events_leave_the_newest_state()
    {
        var (_, price, tenant) = await ArrangeAsync();
        var sub = NewId("sub");
        var t0 = App.Time.GetUtcNow().Second();
        var org = tenant.OrganizationId;
        string[] statuses = ["active", "past_due", "paused"];
        var deliveries = Enumerable.Range(0, 20).OrderBy(_ => Random.Shared.Next()).Select(i => App.DeliverStripeAsync("customer.subscription.updated",
            BillingKit.StripeSubscription(sub, "cus_c", price, i == 19 ? "trialing" : statuses[i % 3], t0.AddDays(i), t0.AddDays(i + 30), i % 2 == 0, org),
            t0.AddMinutes(i)));
        await Task.WhenAll(deliveries);
        var state = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        state.Status.ShouldBe("trialing");
        state.CurrentPeriodEnd.ShouldBe(t0.AddDays(49));
        state.CancelAtPeriodEnd.ShouldBeFalse();
        state.ProviderUpdatedAt.ShouldBe(t0.AddMinutes(19));
        (await App.CountAsync("select count(*) from subscriptions where organization_id = @org", new { org })).ShouldBe(1);
    }

    [Fact]
    public async Task Events_of_every_order_of_three_states_end_in_the_newest()
    {
        var (_, price, _) = await ArrangeAsync();
        int[][] orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        foreach (var order in orders)
        {
            var org = (await App.CreateOrganizationAsync()).Id;
            var sub = NewId("sub");
            var t0 = App.Time.GetUtcNow().Second();
            string[] statuses = ["trialing", "active", "canceled"];
            foreach (var i in order)
                await App.DeliverStripeAsync(i == 2 ? "customer.subscription.deleted" : "customer.subscription.updated",
                    BillingKit.StripeSubscription(sub, NewId("cus"), price, statuses[i], t0, t0.AddDays(30), organizationId: org,
                        trialEnd: t0.AddDays(14), canceledAt: i == 2 ? t0.AddDays(3) : null), t0.AddDays(i));
            var state = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
            state.Status.ShouldBe("canceled", $"order {string.Join(",", order)}");
            state.CanceledAt.ShouldBe(t0.AddDays(3));
            state.TrialEnd.ShouldBe(t0.AddDays(14));
            // Seeing a trial at Stripe uses up the organization's one trial.
            (await App.CountAsync("select count(*) from organization_trials where organization_id = @org", new { org })).ShouldBe(1);
        }
    }

    [Fact]
    public async Task Stripe_events_keep_the_dunning_fields_and_a_suspension_while_Stripe_still_says_past_due_and_clear_them_on_recovery()
    {
        var (plan, price, tenant) = await ArrangeAsync();
        var sub = NewId("sub");
        var org = tenant.OrganizationId;
        var failedAt = App.Time.GetUtcNow().AddDays(-8);
        await App.PlantSubscriptionAsync(org, plan, "suspended", sub, graceEndsAt: failedAt.AddDays(7), paymentFailedAt: failedAt, retryCount: 3);
        var t = App.Time.GetUtcNow().Second();

        await App.DeliverStripeAsync("customer.subscription.updated", BillingKit.StripeSubscription(sub, NewId("cus"), price, "past_due", t, t.AddDays(30)), t);
        var suspended = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        suspended.Status.ShouldBe("suspended");
        suspended.PaymentRetryCount.ShouldBe(3);
        suspended.GraceEndsAt.ShouldNotBeNull();

        await App.DeliverStripeAsync("customer.subscription.updated", BillingKit.StripeSubscription(sub, NewId("cus"), price, "active", t, t.AddDays(30)), t.AddSeconds(5));
        var active = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        active.Status.ShouldBe("active");
        // Stripe's status back at active (newer than the last failure) ends the dunning: the next failure starts afresh.
        active.PaymentRetryCount.ShouldBe(0);
        active.PaymentFailedAt.ShouldBeNull();
        active.GraceEndsAt.ShouldBeNull();
    }

    [Fact]
    public async Task Checkout_completed_links_customer_and_subscription_whichever_event_comes_first()
    {
        var (plan, price, tenant) = await ArrangeAsync();
        var org = tenant.OrganizationId;
        var sub = NewId("sub");
        var customer = NewId("cus");
        var t = App.Time.GetUtcNow().Second();
        var session = new Dictionary<string, object?>
        {
            ["id"] = NewId("cs"), ["object"] = "checkout.session", ["mode"] = "subscription", ["customer"] = customer, ["subscription"] = sub,
            ["client_reference_id"] = org, ["metadata"] = new Dictionary<string, object?> { ["organization_id"] = org, ["plan"] = plan },
        };
        await App.DeliverStripeAsync("checkout.session.completed", session, t.AddSeconds(2));
        var linked = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        linked.Status.ShouldBe("incomplete");
        linked.ProviderSubscriptionId.ShouldBe(sub);
        linked.PlanCode.ShouldBe(plan);
        (await App.CountAsync("select count(*) from billing_customers where organization_id = @org and customer_id = @customer", new { org, customer })).ShouldBe(1);

        // The subscription's own (earlier) event still applies: the link alone carries no provider time.
        await App.DeliverStripeAsync("customer.subscription.created", BillingKit.StripeSubscription(sub, customer, price, "active", t, t.AddDays(30)), t);
        var state = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        state.Status.ShouldBe("active");
        state.CurrentPeriodEnd.ShouldBe(t.AddDays(30));

        var tenantView = await (await App.Client(tenant).GetAsync("/v1/billing/subscription")).JsonAsync();
        tenantView.GetProperty("status").GetString().ShouldBe("active");
        tenantView.GetProperty("plan").GetString().ShouldBe(plan);
        tenantView.GetProperty("currentPeriodEnd").GetDateTimeOffset().ShouldBe(t.AddDays(30));
        tenantView.GetProperty("pendingChange").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
    }

    [Fact]
    public async Task A_subscription_of_an_unknown_price_fails_its_event_and_stores_nothing()
    {
        var (_, _, tenant) = await ArrangeAsync();
        var t = App.Time.GetUtcNow().Second();
        var eventId = NewId("evt");
        await App.DeliverStripeAsync("customer.subscription.created",
            BillingKit.StripeSubscription(NewId("sub"), NewId("cus"), "price_nobodyhasthis", "active", t, t.AddDays(30), organizationId: tenant.OrganizationId), t, eventId);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldBeNull();
        (await App.CountAsync("select count(*) from webhook_events where event_id = @eventId and status = 'failed'", new { eventId })).ShouldBe(1);
    }

    [Fact]
    public async Task Paddle_subscription_events_map_onto_the_same_subscription_ordered_by_occurred_at()
    {
        var plan = BillingKit.NewCode();
        var paddlePrice = "pri_" + Guid.NewGuid().ToString("N")[..20];
        await App.CreatePlanAsync(plan, paddlePriceId: paddlePrice);
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var sub = NewId("sub");
        var t = App.Time.GetUtcNow();
        object Data(string status, DateTimeOffset start, object? scheduled = null) => new Dictionary<string, object?>
        {
            ["id"] = sub, ["status"] = status, ["customer_id"] = "ctm_" + org[..8],
            ["custom_data"] = new Dictionary<string, object?> { ["organization_id"] = org, ["backstop_reference"] = App.PaddleReference(org) },
            ["current_billing_period"] = new { starts_at = start.ToString("O"), ends_at = start.AddMonths(1).ToString("O") },
            ["items"] = new[] { new { price = new { id = paddlePrice }, quantity = 1 } },
            ["scheduled_change"] = scheduled,
        };

        await App.DeliverPaddleAsync("subscription.canceled", Data("canceled", t), t.AddDays(3));
        await App.DeliverPaddleAsync("subscription.updated", Data("active", t, new { action = "cancel", effective_at = t.AddMonths(1).ToString("O") }), t.AddDays(1));
        await App.DeliverPaddleAsync("subscription.past_due", Data("past_due", t), t.AddDays(2));
        var state = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        state.Provider.ShouldBe("paddle");
        state.Status.ShouldBe("canceled");
        state.PlanCode.ShouldBe(plan);

        var other = await App.CreateTenantAsync("admin");
        var otherSub = NewId("sub");
        // Another customer: (UUIDv7 organization ids share their first characters, so they cannot name it.)
        var otherCustomer = "ctm_" + Guid.NewGuid().ToString("N")[..16];
        object OtherData(string status, object? scheduled) => new Dictionary<string, object?>
        {
            ["id"] = otherSub, ["status"] = status, ["customer_id"] = otherCustomer,
            ["custom_data"] = new Dictionary<string, object?> { ["organization_id"] = other.OrganizationId, ["backstop_reference"] = App.PaddleReference(other.OrganizationId) },
            ["current_billing_period"] = new { starts_at = t.ToString("O"), ends_at = t.AddMonths(1).ToString("O") },
            ["items"] = new[] { new { price = new { id = paddlePrice } } }, ["scheduled_change"] = scheduled,
        };
        await App.DeliverPaddleAsync("subscription.updated", OtherData("active", new { action = "cancel" }), t.AddDays(2));
        await App.DeliverPaddleAsync("subscription.past_due", OtherData("past_due", null), t.AddDays(1));
        var kept = (await App.LocalSubscriptionAsync(other.OrganizationId)).ShouldNotBeNull();
        kept.Status.ShouldBe("active");
        kept.CancelAtPeriodEnd.ShouldBeTrue();
        kept.CurrentPeriodStart!.Value.ShouldBe(t, TimeSpan.FromMilliseconds(1));
        kept.CurrentPeriodEnd!.Value.ShouldBe(t.AddMonths(1), TimeSpan.FromMilliseconds(1));
    }
}

public sealed class SubscriptionEventsTestsOnSqlite(SqliteApp<BillingSetup> app) : SubscriptionEventsTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class SubscriptionEventsTestsOnPostgres(PostgresApp<BillingSetup> app) : SubscriptionEventsTests(app), IClassFixture<PostgresApp<BillingSetup>>;
