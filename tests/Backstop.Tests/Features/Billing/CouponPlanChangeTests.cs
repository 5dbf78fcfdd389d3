namespace Backstop.Tests.Features.Billing;

/// <summary>Coupons redeemed through <c>POST /v1/billing/plan-change</c>: passed to Stripe, counted once, never more than the coupon allows.</summary>
public abstract class CouponPlanChangeTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.SetupAs<PlanChangeSetup>().Stripe;

    private async Task<string> CouponAsync(int maxRedemptions)
    {
        var code = "UP" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        (await App.AdminClient().PostJsonAsync("/v1/admin/coupons", new { code, amountOff = 500, currency = "eur", duration = "once", stripeCouponId = "co_" + code, maxRedemptions }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        return code;
    }

    [Fact]
    public async Task An_upgrade_with_a_coupon_passes_it_to_Stripe_and_redeems_it_and_a_second_use_is_refused()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var code = await CouponAsync(10);

        var response = await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max, couponCode = code.ToLowerInvariant() });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        // The upgrade is a pending update (items only); the coupon follows once it is paid.
        Stripe.Received("POST", $"/v1/subscriptions/{a.StripeSubscriptionId}").Single(r => r.Form.ContainsKey("discounts[0][coupon]")).Form["discounts[0][coupon]"].ShouldBe("co_" + code);
        (await App.SqlScalarAsync<string>("select r.state from coupon_redemptions r join coupons c on c.id = r.coupon_id where c.code = @code", new { code })).ShouldBe("redeemed");

        // Back down and up again with the same coupon: this organization has redeemed it already.
        await App.SqlScalarAsync<int>("update subscriptions set plan_code = @pro where id = @id", new { pro = a.Pro, id = a.SubscriptionRowId });
        await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max, couponCode = code }))
            .ShouldBeProblemAsync(409, "coupon_already_redeemed");
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @code", new { code })).ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_concurrent_upgrades_with_a_coupon_that_has_5_left_redeem_exactly_5()
    {
        var code = await CouponAsync(5);
        var organizations = new List<PlanArrangement>();
        for (var i = 0; i < 20; i++) organizations.Add(await App.ArrangeSubscribedAsync(Stripe));

        var responses = await Task.WhenAll(organizations.Select(a => Task.Run(() =>
            App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max, couponCode = code }))));

        var statuses = responses.Select(r => (int)r.StatusCode).ToList();
        statuses.Count(s => s == 200).ShouldBe(5);
        statuses.Count(s => s == 409).ShouldBe(15);
        (await App.SqlScalarAsync<long>("select count(*) from coupon_redemptions r join coupons c on c.id = r.coupon_id where c.code = @code and r.state = 'redeemed'", new { code }))
            .ShouldBe(5);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @code", new { code })).ShouldBe(5);
        Stripe.Received("POST", "/v1/subscriptions/sub_[^/]+").Count(r => r.Form.GetValueOrDefault("discounts[0][coupon]") == "co_" + code).ShouldBe(5);
    }
}

public sealed class CouponPlanChangeTestsOnSqlite(SqliteApp<PlanChangeSetup> app) : CouponPlanChangeTests(app), IClassFixture<SqliteApp<PlanChangeSetup>>;

public sealed class CouponPlanChangeTestsOnPostgres(PostgresApp<PlanChangeSetup> app) : CouponPlanChangeTests(app), IClassFixture<PostgresApp<PlanChangeSetup>>;
