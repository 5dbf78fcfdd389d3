namespace Backstop.Tests.Features.Billing;

public abstract class CheckoutTests(BackstopFactory app) : AppTest(app)
{
    private object Body(string plan, string? coupon = null) =>
        new { plan, successUrl = "https://app.example.com/billing/done", cancelUrl = "https://app.example.com/billing", couponCode = coupon };

    [Fact]
    public async Task Checkout_creates_the_customer_and_a_subscription_session_for_the_plans_price()
    {
        var price = BillingKit.NewPrice();
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");

        var response = await App.Client(tenant).PostJsonAsync("/v1/billing/checkout", Body(plan));
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.JsonAsync();
        var sessionId = body.GetProperty("sessionId").GetString()!;
        body.GetProperty("url").GetString().ShouldBe($"https://checkout.stripe.com/c/pay/{sessionId}");

        var customer = App.Stripe().Received("POST", "/v1/customers")
            .Where(r => r.Form.GetValueOrDefault("metadata[organization_id]") == tenant.OrganizationId).ShouldHaveSingleItem();
        customer.IdempotencyKey.ShouldBe("customer:" + tenant.OrganizationId);
        customer.Form["metadata[organization_id]"].ShouldBe(tenant.OrganizationId);
        var session = App.Stripe().Received("POST", "/v1/checkout/sessions").Last(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId);
        session.Form["mode"].ShouldBe("subscription");
        session.Form["line_items[0][price]"].ShouldBe(price);
        session.Form["line_items[0][quantity]"].ShouldBe("1");
        session.Form["metadata[plan]"].ShouldBe(plan);
        session.Form["subscription_data[metadata][organization_id]"].ShouldBe(tenant.OrganizationId);
        session.Form["success_url"].ShouldBe("https://app.example.com/billing/done");
        session.Form.ShouldNotContainKey("subscription_data[trial_period_days]");
        session.IdempotencyKey.ShouldStartWith($"checkout:{tenant.OrganizationId}:{plan}:");
        (await App.CountAsync("select count(*) from billing_customers where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    private async Task ExpireAsync(string sessionId)
    {
        var now = App.Time.GetUtcNow();
        var expired = new Dictionary<string, object?> { ["id"] = sessionId, ["object"] = "checkout.session", ["status"] = "expired" };
        (await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "checkout.session.expired", expired, now, now)))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Twenty_concurrent_checkouts_of_one_organization_make_one_Stripe_customer_and_one_session()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice(), trialDays: 30);
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => client.PostJsonAsync("/v1/billing/checkout",
            new { plan, successUrl = $"https://app.example.com/done?try={i}", cancelUrl = "https://app.example.com/billing" }))));
        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        foreach (var refused in answers.Where(a => a.StatusCode != HttpStatusCode.OK)) await refused.ShouldBeProblemAsync(409, "subscription_exists");

        (await App.CountAsync("select count(*) from billing_customers where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
        App.Stripe().Received("POST", "/v1/customers").Count(r => r.Form.GetValueOrDefault("metadata[organization_id]") == tenant.OrganizationId).ShouldBe(1);
        var sessions = App.Stripe().Received("POST", "/v1/checkout/sessions").Where(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId).ToList();
        sessions.Count.ShouldBe(1);
        sessions[0].Form["subscription_data[trial_period_days]"].ShouldBe("30");
        (await App.CountAsync("select count(*) from organization_trials where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from billing_checkouts where organization_id = @id and status = 'open'", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_retried_click_gets_the_same_session_and_another_checkout_gets_409_with_the_open_sessions_url()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice(), trialDays: 7);
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        var first = await (await client.PostJsonAsync("/v1/billing/checkout", Body(plan))).JsonAsync();
        var second = await (await client.PostJsonAsync("/v1/billing/checkout", Body(plan))).JsonAsync();
        second.GetProperty("sessionId").GetString().ShouldBe(first.GetProperty("sessionId").GetString());
        second.GetProperty("url").GetString().ShouldBe(first.GetProperty("url").GetString());
        second.GetProperty("trialDays").GetInt32().ShouldBe(7);

        var withHeader = new HttpRequestMessage(HttpMethod.Post, "/v1/billing/checkout") { Content = System.Net.Http.Json.JsonContent.Create(Body(plan), options: Http.Json) };
        withHeader.Headers.Add("Idempotency-Key", "client-key-1");
        var third = await client.SendAsync(withHeader);
        var problem = await third.ShouldBeProblemAsync(409, "subscription_exists");
        problem.GetProperty("checkoutUrl").GetString().ShouldBe(first.GetProperty("url").GetString());
        problem.GetProperty("detail").GetString()!.ShouldContain("plan-change");

        App.Stripe().Received("POST", "/v1/checkout/sessions").Count(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId).ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.checkout' and organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task The_same_request_after_its_session_expired_opens_a_new_session_not_the_expired_one()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var first = (await (await client.PostJsonAsync("/v1/billing/checkout", Body(plan))).JsonAsync()).GetProperty("sessionId").GetString()!;
        await ExpireAsync(first);

        var again = await client.PostJsonAsync("/v1/billing/checkout", Body(plan));
        var body = await again.JsonAsync();
        again.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        var second = body.GetProperty("sessionId").GetString()!;
        second.ShouldNotBe(first);
        App.Stripe().CheckoutSessions[second]["status"].ShouldBe("open");
        var sessions = App.Stripe().Received("POST", "/v1/checkout/sessions").Where(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId).ToList();
        sessions.Count(r => !r.Replayed).ShouldBe(2);
    }

    [Fact]
    public async Task A_second_checkout_beside_a_live_subscription_is_refused_409_naming_plan_change_without_calling_Stripe()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        foreach (var status in new[] { "trialing", "active", "past_due", "paused" })
        {
            var tenant = await App.CreateTenantAsync("admin");
            await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, status);
            var problem = await (await App.Client(tenant).PostJsonAsync("/v1/billing/checkout", Body(plan))).ShouldBeProblemAsync(409, "subscription_exists");
            problem.GetProperty("detail").GetString()!.ShouldContain("/v1/billing/plan-change");
            App.Stripe().Received("POST", "/v1/customers").ShouldNotContain(r => r.Form.GetValueOrDefault("metadata[organization_id]") == tenant.OrganizationId);
            App.Stripe().Received("POST", "/v1/checkout/sessions").ShouldNotContain(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId);
            (await App.CountAsync("select count(*) from billing_checkouts where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(0);
        }
    }

    [Fact]
    public async Task The_trial_is_given_once_per_organization()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice(), trialDays: 14);
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        var first = await (await client.PostJsonAsync("/v1/billing/checkout", Body(plan))).JsonAsync();
        first.GetProperty("trialDays").GetInt32().ShouldBe(14);
        await ExpireAsync(first.GetProperty("sessionId").GetString()!);
        var again = new { plan, successUrl = "https://app.example.com/other", cancelUrl = "https://app.example.com/billing" };
        var secondResponse = await client.PostJsonAsync("/v1/billing/checkout", again);
        var second = await secondResponse.JsonAsync();
        secondResponse.StatusCode.ShouldBe(HttpStatusCode.OK, second.ToString());
        second.GetProperty("trialDays").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        var sessions = App.Stripe().Received("POST", "/v1/checkout/sessions").Where(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId).ToList();
        sessions[0].Form["subscription_data[trial_period_days]"].ShouldBe("14");
        sessions[1].Form.ShouldNotContainKey("subscription_data[trial_period_days]");
        (await App.CountAsync("select count(*) from organization_trials where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task An_organization_that_had_a_subscription_gets_no_trial()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice(), trialDays: 14);
        var tenant = await App.CreateTenantAsync("admin");
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "canceled", providerSubscriptionId: "sub_" + Guid.NewGuid().ToString("N")[..20]);

        var body = await (await App.Client(tenant).PostJsonAsync("/v1/billing/checkout", Body(plan))).JsonAsync();
        body.GetProperty("trialDays").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        App.Stripe().Received("POST", "/v1/checkout/sessions").Last(r => r.Form.GetValueOrDefault("client_reference_id") == tenant.OrganizationId)
            .Form.ShouldNotContainKey("subscription_data[trial_period_days]");
    }

    [Fact]
    public async Task Unknown_inactive_and_free_plans_are_refused_and_Stripe_is_not_called()
    {
        var inactive = BillingKit.NewCode();
        await App.CreatePlanAsync(inactive, BillingKit.NewPrice());
        (await App.AdminClient().PatchAsync($"/v1/admin/plans/{inactive}",
            new StringContent("""{"active":false}""", System.Text.Encoding.UTF8, "application/json"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        await (await client.PostJsonAsync("/v1/billing/checkout", Body("no-such-plan"))).ShouldBeProblemAsync(404, "plan_not_found");
        await (await client.PostJsonAsync("/v1/billing/checkout", Body(inactive))).ShouldBeProblemAsync(409, "plan_inactive");
        await (await client.PostJsonAsync("/v1/billing/checkout", Body("free"))).ShouldBeProblemAsync(409, "plan_not_purchasable");
        var active = BillingKit.NewCode();
        await App.CreatePlanAsync(active, BillingKit.NewPrice());
        await (await client.PostJsonAsync("/v1/billing/checkout", Body(active, coupon: "NOSUCHCOUPON"))).ShouldBeProblemAsync(404, "coupon_not_found");
        await (await client.PostJsonAsync("/v1/billing/checkout", new { plan = inactive, successUrl = "javascript:alert(1)", cancelUrl = "https://x.example" }))
            .ShouldBeProblemAsync(400, "invalid_url");
        App.Stripe().Received("POST", "/v1/customers").ShouldNotContain(r => r.Form.GetValueOrDefault("metadata[organization_id]") == tenant.OrganizationId);
        (await App.CountAsync("select count(*) from billing_customers where organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(0);
    }

    [Fact]
    public async Task Checkout_needs_the_admin_scope()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var tenant = await App.CreateTenantAsync("read", "write");
        await (await App.Client(tenant).PostJsonAsync("/v1/billing/checkout", Body(plan))).ShouldBeProblemAsync(403, "insufficient_scope");
    }
}

public sealed class CheckoutTestsOnSqlite(SqliteApp<BillingSetup> app) : CheckoutTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class CheckoutTestsOnPostgres(PostgresApp<BillingSetup> app) : CheckoutTests(app), IClassFixture<PostgresApp<BillingSetup>>;
