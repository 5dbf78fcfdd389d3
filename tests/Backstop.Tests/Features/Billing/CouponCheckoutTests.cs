namespace Backstop.Tests.Features.Billing;

/// <summary>Coupons at checkout: held from session creation, passed to Stripe, given back when the session expires.</summary>
public abstract class CouponCheckoutTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.SetupAs<PlansSetup>().Stripe;

    private static object Body(string plan, string coupon) =>
        new { plan, successUrl = "https://app.example.com/billing/done", cancelUrl = "https://app.example.com/billing", couponCode = coupon };

    private async Task<string> PlanAsync(int trialDays = 0)
    {
        var code = "co-plan-" + Guid.NewGuid().ToString("N")[..8];
        await App.PlantPlanAsync(code, new Dictionary<string, long> { ["team_members"] = 10 }, "price_" + code, trialDays);
        return code;
    }

    private async Task<string> CouponAsync(int? maxRedemptions, bool firstTimeOnly = false)
    {
        var code = "CHK" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        (await App.AdminClient().PostJsonAsync("/v1/admin/coupons", new { code, percentOff = 25, duration = "once", stripeCouponId = "co_" + code, maxRedemptions, firstTimeOnly }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        return code;
    }

    [Fact]
    public async Task A_checkout_holds_its_coupon_passes_it_to_Stripe_and_gets_it_back_when_the_session_expires()
    {
        var plan = await PlanAsync();
        var coupon = await CouponAsync(1);
        var tenant = await App.CreateTenantAsync("admin");

        var response = await App.Client(tenant).PostJsonAsync("/v1/billing/checkout", Body(plan, coupon));

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var sent = Stripe.Received("POST", "/v1/checkout/sessions").Single(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId);
        sent.Form["discounts[0][coupon]"].ShouldBe("co_" + coupon);
        var redemptionId = sent.Form["metadata[coupon_redemption]"];
        (await App.SqlScalarAsync<string>("select checkout_session_id from coupon_redemptions where id = @redemptionId", new { redemptionId })).ShouldBe(sessionId);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(1);
        var other = await App.CreateTenantAsync("admin");
        await (await App.Client(other).PostJsonAsync("/v1/billing/checkout", Body(plan, coupon))).ShouldBeProblemAsync(409, "coupon_exhausted");

        var now = App.Time.GetUtcNow();
        var expired = new Dictionary<string, object?> { ["id"] = sessionId, ["object"] = "checkout.session", ["status"] = "expired", ["metadata"] = new Dictionary<string, object?>() };
        for (var i = 0; i < 2; i++)
            (await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "checkout.session.expired", expired, now, now))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(0);
        (await App.Client(other).PostJsonAsync("/v1/billing/checkout", Body(plan, coupon))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_concurrent_checkouts_with_a_coupon_that_has_5_left_promise_exactly_5()
    {
        var plan = await PlanAsync();
        var coupon = await CouponAsync(5);
        var tenants = new List<TestTenant>();
        for (var i = 0; i < 20; i++) tenants.Add(await App.CreateTenantAsync("admin"));

        var responses = await Task.WhenAll(tenants.Select(t => Task.Run(() => App.Client(t).PostJsonAsync("/v1/billing/checkout", Body(plan, coupon)))));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(5);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(15);
        (await App.SqlScalarAsync<long>("select count(*) from coupon_redemptions r join coupons c on c.id = r.coupon_id where c.code = @coupon and r.state = 'held'", new { coupon }))
            .ShouldBe(5);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(5);
        Stripe.Received("POST", "/v1/checkout/sessions").Count(r => r.Form.GetValueOrDefault("discounts[0][coupon]") == "co_" + coupon).ShouldBe(5);
    }

    [Fact]
    public async Task A_first_time_coupon_goes_with_the_first_checkout_and_its_trial_but_not_with_a_later_one()
    {
        var plan = await PlanAsync(trialDays: 14);
        var first = await CouponAsync(null, firstTimeOnly: true);
        var second = await CouponAsync(null, firstTimeOnly: true);
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        var response = await client.PostJsonAsync("/v1/billing/checkout", Body(plan, first));

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("trialDays").GetInt32().ShouldBe(14);
        // The same checkout retried keeps its coupon and its trial.
        (await client.PostJsonAsync("/v1/billing/checkout", Body(plan, first))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @first", new { first })).ShouldBe(1);
        var now = App.Time.GetUtcNow();
        var expired = new Dictionary<string, object?> { ["id"] = body.GetProperty("sessionId").GetString(), ["object"] = "checkout.session", ["status"] = "expired" };
        (await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "checkout.session.expired", expired, now, now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        // Another checkout (the first one expired): the organization has had its trial, so it is no longer a first-time customer.
        await (await client.PostJsonAsync("/v1/billing/checkout", Body(plan, second))).ShouldBeProblemAsync(409, "coupon_first_time_only");
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @second", new { second })).ShouldBe(0);
    }
}

public sealed class CouponCheckoutTestsOnSqlite(SqliteApp<PlansSetup> app) : CouponCheckoutTests(app), IClassFixture<SqliteApp<PlansSetup>>;

public sealed class CouponCheckoutTestsOnPostgres(PostgresApp<PlansSetup> app) : CouponCheckoutTests(app), IClassFixture<PostgresApp<PlansSetup>>;
