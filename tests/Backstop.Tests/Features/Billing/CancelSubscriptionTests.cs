namespace Backstop.Tests.Features.Billing;

public abstract class CancelSubscriptionTests(BackstopFactory app) : AppTest(app)
{
    private async Task<(TestTenant Tenant, string Subscription)> SubscribedAsync()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "active", sub);
        var now = App.Time.GetUtcNow();
        App.Stripe().PlantSubscription(sub, "cus_" + tenant.OrganizationId[..8], price, "active", now.AddDays(-1), now.AddDays(29));
        return (tenant, sub);
    }

    [Fact]
    public async Task Cancel_is_at_period_end_and_reaches_Stripe_through_the_outbox_with_a_key_of_the_operation()
    {
        var (tenant, sub) = await SubscribedAsync();
        var response = await App.Client(tenant).DeleteAsync("/v1/billing/subscription");
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        (await response.JsonAsync()).GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").ShouldBeEmpty();

        await App.DispatchOutboxAsync();
        var call = App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem();
        call.Form["cancel_at_period_end"].ShouldBe("true");
        call.IdempotencyKey.ShouldBe($"cancel:{sub}:1");
        App.Stripe().Received("DELETE", $"/v1/subscriptions/{sub}").ShouldBeEmpty();
        ((bool)App.Stripe().Subscriptions[sub]["cancel_at_period_end"]!).ShouldBeTrue();
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.Status.ShouldBe("active");
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.cancel' and organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_cancel_Stripe_refuses_for_good_puts_the_local_flag_back_with_an_audit_row()
    {
        var (tenant, sub) = await SubscribedAsync();
        App.Stripe().On("POST", $"/v1/subscriptions/{sub}", _ => StripeAnswer.Error(400, "invalid_request_error", "This subscription cannot be changed."));
        (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();

        await App.DispatchOutboxAsync();
        App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem().Status.ShouldBe(400);
        (await App.CountAsync("select count(*) from outbox_messages where reference = @sub and status = 'dead'", new { sub })).ShouldBe(1);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeFalse();
        // Never silently: audited and alerted.
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.cancel_refused' and organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_concurrent_cancels_enqueue_one_Stripe_call()
    {
        var (tenant, sub) = await SubscribedAsync();
        var client = App.Client(tenant);
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.DeleteAsync("/v1/billing/subscription")));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.Accepted);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub", new { sub })).ShouldBe(1);
        await App.DispatchOutboxAsync();
        App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").Count.ShouldBe(1);
    }

    [Fact]
    public async Task Resume_undoes_the_cancellation_and_cancel_resume_cancel_are_three_operations_of_which_the_last_reaches_Stripe()
    {
        var (tenant, sub) = await SubscribedAsync();
        var client = App.Client(tenant);
        await client.DeleteAsync("/v1/billing/subscription");
        var resumed = await client.PostAsync("/v1/billing/subscription/resume", null);
        resumed.StatusCode.ShouldBe(HttpStatusCode.Accepted, await resumed.Content.ReadAsStringAsync());
        (await resumed.JsonAsync()).GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeFalse();
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.resume' and organization_id = @id", new { id = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub", new { sub })).ShouldBe(2);
        await client.DeleteAsync("/v1/billing/subscription");
        await App.DispatchOutboxAsync();

        // Three messages; the first two were overtaken by the third before they were sent, so only it reaches Stripe
        // (a retried older one can never undo a newer request).
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'sent'", new { sub })).ShouldBe(3);
        var call = App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem();
        call.IdempotencyKey.ShouldBe($"cancel:{sub}:3");
        call.Form["cancel_at_period_end"].ShouldBe("true");
        ((bool)App.Stripe().Subscriptions[sub]["cancel_at_period_end"]!).ShouldBeTrue();
    }

    [Fact]
    public async Task Resume_is_refused_when_not_cancelling_or_after_the_period_ended()
    {
        var (tenant, sub) = await SubscribedAsync();
        var client = App.Client(tenant);
        await (await client.PostAsync("/v1/billing/subscription/resume", null)).ShouldBeProblemAsync(409, "not_cancelling");
        await client.DeleteAsync("/v1/billing/subscription");
        await App.ExecuteAsync("update subscriptions set current_period_end = @end where organization_id = @id",
            new { end = App.Time.GetUtcNow().AddSeconds(-1), id = tenant.OrganizationId });
        await (await client.PostAsync("/v1/billing/subscription/resume", null)).ShouldBeProblemAsync(409, "period_ended");
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
        (await App.CountAsync("select count(*) from outbox_messages where reference = @sub", new { sub })).ShouldBe(1);
    }

    [Fact]
    public async Task Without_a_subscription_the_subscription_endpoints_answer_404()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        await (await client.GetAsync("/v1/billing/subscription")).ShouldBeProblemAsync(404, "no_subscription");
        await (await client.DeleteAsync("/v1/billing/subscription")).ShouldBeProblemAsync(404, "no_subscription");
        await (await client.PostAsync("/v1/billing/subscription/resume", null)).ShouldBeProblemAsync(404, "no_subscription");
    }

    [Fact]
    public async Task A_canceled_or_Paddle_subscription_cannot_be_cancelled_here()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var ended = await App.CreateTenantAsync("admin");
        await App.PlantSubscriptionAsync(ended.OrganizationId, plan, "canceled", $"sub_{Guid.NewGuid():N}"[..24]);
        await (await App.Client(ended).DeleteAsync("/v1/billing/subscription")).ShouldBeProblemAsync(409, "subscription_not_active");
        var paddle = await App.CreateTenantAsync("admin");
        await App.PlantSubscriptionAsync(paddle.OrganizationId, plan, "active", $"sub_{Guid.NewGuid():N}"[..24], provider: "paddle");
        await (await App.Client(paddle).DeleteAsync("/v1/billing/subscription")).ShouldBeProblemAsync(409, "not_cancellable");
    }
}

public sealed class CancelSubscriptionTestsOnSqlite(SqliteApp<BillingSetup> app) : CancelSubscriptionTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class CancelSubscriptionTestsOnPostgres(PostgresApp<BillingSetup> app) : CancelSubscriptionTests(app), IClassFixture<PostgresApp<BillingSetup>>;
