using System.Net.Sockets;
using Backstop.Features.Billing.Coupons;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>Stripe down: its API base is a loopback port nobody listens on, so every call is refused at the TCP level.</summary>
public sealed class StripeDownSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        settings["Stripe:ApiKey"] = StripeTestServer.ApiKey;
        settings["Stripe:BaseUrl"] = $"http://127.0.0.1:{port}";
        settings["Stripe:WebhookSecret"] = StripeSetup.WebhookSecret;
        settings["Outbox:DispatcherEnabled"] = "false";
    }
}

public abstract class CheckoutOutageTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Stripe_connection_refused_during_checkout_answers_502_with_Retry_After_and_gives_back_the_hold_the_trial_and_the_claim()
    {
        var plan = "down-" + Guid.NewGuid().ToString("N")[..8];
        await App.PlantPlanAsync(plan, new Dictionary<string, long> { ["team_members"] = 10 }, "price_" + plan, trialDays: 14);
        var coupon = "DOWN" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        (await App.AdminClient().PostJsonAsync("/v1/admin/coupons", new { code = coupon, percentOff = 25, duration = "once", stripeCouponId = "co_" + coupon, maxRedemptions = 1 }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        var tenant = await App.CreateTenantAsync("admin");
        // The customer exists already (no customer call), so the session creation is the call that meets the outage.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("insert into billing_customers (organization_id, provider, customer_id, created_at) values (@org, 'stripe', @cus, @now)",
                new { org = tenant.OrganizationId, cus = "cus_" + Guid.NewGuid().ToString("N")[..14], now = App.Time.GetUtcNow() });

        var response = await App.Client(tenant).PostJsonAsync("/v1/billing/checkout",
            new { plan, successUrl = "https://app.example.com/done", cancelUrl = "https://app.example.com/billing", couponCode = coupon });

        await response.ShouldBeProblemAsync(502, "stripe_unavailable");
        response.Headers.TryGetValues("Retry-After", out var retry).ShouldBeTrue();
        int.Parse(retry!.Single()).ShouldBeGreaterThan(0);
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(0);
        (await App.SqlScalarAsync<long>("select count(*) from coupon_redemptions r join coupons c on c.id = r.coupon_id where c.code = @coupon and r.state = 'held'", new { coupon }))
            .ShouldBe(0);
        (await App.SqlScalarAsync<long>("select count(*) from organization_trials where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(0);
        (await App.SqlScalarAsync<long>("select count(*) from billing_checkouts where organization_id = @id and status in ('creating', 'open')", new { id = tenant.OrganizationId }))
            .ShouldBe(0);
        // Nothing blocks the next attempt: it meets the same outage, not a 409.
        await (await App.Client(tenant).PostJsonAsync("/v1/billing/checkout",
            new { plan, successUrl = "https://app.example.com/done", cancelUrl = "https://app.example.com/billing" })).ShouldBeProblemAsync(502, "stripe_unavailable");
    }

    [Fact]
    public async Task A_checkout_hold_that_never_got_a_session_is_released_by_coupon_recount_after_a_day()
    {
        var coupon = "LOST" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        (await App.AdminClient().PostJsonAsync("/v1/admin/coupons", new { code = coupon, percentOff = 10, duration = "once", stripeCouponId = "co_" + coupon, maxRedemptions = 1 }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        var tenant = await App.CreateTenantAsync("admin");
        // What a checkout that died between its hold and Stripe's session leaves behind.
        var hold = await App.Service<Db>().InTransactionAsync((c, tx) =>
            App.Service<CouponRedemptions>().HoldAsync(c, tx, coupon, tenant.OrganizationId, $"checkout:{tenant.OrganizationId}:pro:abc", CancellationToken.None));
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromHours(23));
        (await App.Service<JobRunner>().RunAsync(CouponRecountJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = hold.RedemptionId })).ShouldBe("held");

        App.Time.Advance(TimeSpan.FromHours(2));
        (await App.Service<JobRunner>().RunAsync(CouponRecountJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.SqlScalarAsync<string>("select state from coupon_redemptions where id = @id", new { id = hold.RedemptionId })).ShouldBe("released");
        (await App.SqlScalarAsync<long>("select times_redeemed from coupons where code = @coupon", new { coupon })).ShouldBe(0);
    }
}

public sealed class CheckoutOutageTestsOnSqlite(SqliteApp<StripeDownSetup> app) : CheckoutOutageTests(app), IClassFixture<SqliteApp<StripeDownSetup>>;

public sealed class CheckoutOutageTestsOnPostgres(PostgresApp<StripeDownSetup> app) : CheckoutOutageTests(app), IClassFixture<PostgresApp<StripeDownSetup>>;
