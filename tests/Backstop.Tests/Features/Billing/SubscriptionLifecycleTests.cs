using Backstop.Features.Billing;
using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>
/// The whole life of a subscription: events that must not swap or move a subscription, the plan in force changing by
/// any path, the end of a subscription, deleted organizations, Paddle's past_due, and the gate's storage refusal.
/// </summary>
public abstract class SubscriptionLifecycleTests(BackstopFactory app) : AppTest(app)
{
    private static string NewId(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..24];

    private async Task<(string Plan, string Price)> PlanAsync(object? limits = null)
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price, limits: limits ?? new Dictionary<string, long> { ["meetings_per_month"] = -1, ["team_members"] = -1, ["storage_bytes"] = -1 });
        return (plan, price);
    }

    private Task<long> DiscrepanciesAsync(string subscriptionId, string field) =>
        App.CountAsync("select count(*) from billing_discrepancies where provider_subscription_id = @subscriptionId and field = @field and not resolved",
            new { subscriptionId, field });

    private Task<long> AlertsAsync(string subscriptionId) =>
        App.CountAsync("select count(*) from outbox_messages where channel = 'email' and idempotency_key like 'billing-discrepancy:%' and reference = @subscriptionId",
            new { subscriptionId });

    private async Task<string> LinkCustomerAsync(string organizationId, string provider = "stripe")
    {
        var customer = (provider == "stripe" ? "cus_" : "ctm_") + Guid.NewGuid().ToString("N")[..16];
        await App.ExecuteAsync("insert into billing_customers (organization_id, provider, customer_id, created_at) values (@organizationId, @provider, @customer, @now)",
            new { organizationId, provider, customer, now = App.Time.GetUtcNow() });
        return customer;
    }

    [Fact]
    public async Task An_event_for_an_organization_with_another_live_subscription_is_a_discrepancy_and_an_alert_never_a_swap()
    {
        var (plan, price) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var live = NewId("sub");
        await App.PlantSubscriptionAsync(org, plan, "active", live);
        var second = NewId("sub");
        var t = App.Time.GetUtcNow().Second();

        for (var i = 0; i < 2; i++)
            await App.DeliverStripeAsync("customer.subscription.created",
                BillingKit.StripeSubscription(second, NewId("cus"), price, "active", t, t.AddDays(30), organizationId: org), t.AddSeconds(i));

        var row = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        row.ProviderSubscriptionId.ShouldBe(live);
        row.Status.ShouldBe("active");
        (await DiscrepanciesAsync(second, "subscription_conflict")).ShouldBe(1);
        (await AlertsAsync(second)).ShouldBe(1);
    }

    [Fact]
    public async Task Stripe_metadata_naming_another_organization_never_moves_a_mapped_subscription()
    {
        var (plan, price) = await PlanAsync();
        var owner = await App.CreateTenantAsync("admin");
        var other = await App.CreateTenantAsync("admin");
        var customer = await LinkCustomerAsync(owner.OrganizationId);
        var sub = NewId("sub");
        await App.PlantSubscriptionAsync(owner.OrganizationId, plan, "active", sub);
        var t = App.Time.GetUtcNow().Second();

        await App.DeliverStripeAsync("customer.subscription.updated",
            BillingKit.StripeSubscription(sub, customer, price, "canceled", t, t.AddDays(30), organizationId: other.OrganizationId, canceledAt: t), t);

        (await App.LocalSubscriptionAsync(owner.OrganizationId)).ShouldNotBeNull().Status.ShouldBe("active");
        (await App.LocalSubscriptionAsync(other.OrganizationId)).ShouldBeNull();
        (await DiscrepanciesAsync(sub, "organization")).ShouldBe(1);
        (await AlertsAsync(sub)).ShouldBe(1);
    }

    private static Dictionary<string, object?> Paddle(string sub, string customer, string price, string status, DateTimeOffset start, Dictionary<string, object?> customData) => new()
    {
        ["id"] = sub, ["status"] = status, ["customer_id"] = customer, ["custom_data"] = customData,
        ["current_billing_period"] = new { starts_at = start.ToString("O"), ends_at = start.AddMonths(1).ToString("O") },
        ["items"] = new[] { new { price = new { id = price }, quantity = 1 } },
    };

    private async Task<(string Plan, string PaddlePrice)> PaddlePlanAsync()
    {
        var plan = BillingKit.NewCode();
        var paddlePrice = "pri_" + Guid.NewGuid().ToString("N")[..20];
        await App.CreatePlanAsync(plan, paddlePriceId: paddlePrice, limits: new Dictionary<string, long> { ["team_members"] = -1 });
        return (plan, paddlePrice);
    }

    [Fact]
    public async Task A_Paddle_event_with_another_organizations_id_in_custom_data_changes_nothing_and_is_a_discrepancy()
    {
        var (_, price) = await PaddlePlanAsync();
        var victim = await App.CreateTenantAsync("admin");
        var attacker = await App.CreateTenantAsync("admin");
        var sub = NewId("sub");
        var customer = "ctm_" + Guid.NewGuid().ToString("N")[..16];
        var t = App.Time.GetUtcNow();
        await App.DeliverPaddleAsync("subscription.created", Paddle(sub, customer, price, "active", t,
            new() { ["organization_id"] = victim.OrganizationId, ["backstop_reference"] = App.PaddleReference(victim.OrganizationId) }), t);
        (await App.LocalSubscriptionAsync(victim.OrganizationId)).ShouldNotBeNull().Status.ShouldBe("active");

        // The victim's subscription, with the attacker's organization (and even the attacker's own valid reference).
        await App.DeliverPaddleAsync("subscription.paused", Paddle(sub, customer, price, "paused", t,
            new() { ["organization_id"] = attacker.OrganizationId, ["backstop_reference"] = App.PaddleReference(attacker.OrganizationId) }), t.AddMinutes(1));

        (await App.LocalSubscriptionAsync(victim.OrganizationId)).ShouldNotBeNull().Status.ShouldBe("active");
        (await App.LocalSubscriptionAsync(attacker.OrganizationId)).ShouldBeNull();
        (await DiscrepanciesAsync(sub, "organization")).ShouldBe(1);
        (await AlertsAsync(sub)).ShouldBe(1);
    }

    [Fact]
    public async Task A_Paddle_checkout_opened_with_the_server_issued_custom_data_is_attached_to_its_organization()
    {
        var (plan, price) = await PaddlePlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var issued = await App.Client(tenant).PostAsync("/v1/billing/paddle-checkout", null);
        var customData = (await issued.JsonAsync()).GetProperty("customData");
        customData.GetProperty("organization_id").GetString().ShouldBe(tenant.OrganizationId);
        var reference = customData.GetProperty("backstop_reference").GetString()!;
        var sub = NewId("sub");
        var t = App.Time.GetUtcNow();

        await App.DeliverPaddleAsync("subscription.created", Paddle(sub, "ctm_" + Guid.NewGuid().ToString("N")[..16], price, "active", t,
            new() { ["organization_id"] = tenant.OrganizationId, ["backstop_reference"] = reference }), t);

        var row = (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldNotBeNull();
        row.ProviderSubscriptionId.ShouldBe(sub);
        row.PlanCode.ShouldBe(plan);
        await (await App.Client(tenant).PostAsync("/v1/billing/paddle-checkout", null)).ShouldBeProblemAsync(409, "subscription_exists");
    }

    [Fact]
    public async Task An_unmapped_Paddle_subscription_naming_an_organization_without_the_signed_reference_is_not_attached()
    {
        var (_, price) = await PaddlePlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var sub = NewId("sub");
        var t = App.Time.GetUtcNow();
        var forged = App.PaddleReference(tenant.OrganizationId)[..^4] + "0000";

        await App.DeliverPaddleAsync("subscription.created", Paddle(sub, "ctm_" + Guid.NewGuid().ToString("N")[..16], price, "active", t,
            new() { ["organization_id"] = tenant.OrganizationId, ["backstop_reference"] = forged }), t);

        (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldBeNull();
        (await DiscrepanciesAsync(sub, "checkout_reference")).ShouldBe(1);
    }

    [Fact]
    public async Task Paddle_past_due_opens_a_grace_with_the_first_email_and_is_suspended_when_the_grace_ends()
    {
        var (_, price) = await PaddlePlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var ownerEmail = $"owner-{Guid.NewGuid():N}@example.com";
        await App.AddMemberAsync(tenant.OrganizationId, ownerEmail, "owner");
        var sub = NewId("sub");
        var customer = "ctm_" + Guid.NewGuid().ToString("N")[..16];
        var data = new Dictionary<string, object?> { ["organization_id"] = tenant.OrganizationId, ["backstop_reference"] = App.PaddleReference(tenant.OrganizationId) };
        var t = App.Time.GetUtcNow();
        await App.DeliverPaddleAsync("subscription.created", Paddle(sub, customer, price, "active", t, data), t);

        var pastDueAt = App.Time.GetUtcNow();
        await App.DeliverPaddleAsync("subscription.past_due", Paddle(sub, customer, price, "past_due", t, data), pastDueAt);
        var row = (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldNotBeNull();
        row.Status.ShouldBe("past_due");
        row.GraceEndsAt!.Value.ShouldBe(pastDueAt.AddDays(7), TimeSpan.FromMilliseconds(1));
        row.PaymentRetryCount.ShouldBe(1);
        var emails = await App.EmailsAsync($"paddle-dunning:{sub}:");
        emails.ShouldHaveSingleItem().To.ShouldBe(ownerEmail);
        emails[0].Subject.ShouldBe(DunningEmails.FirstSubject);
        // A second past_due notification keeps the grace and sends nothing more.
        await App.DeliverPaddleAsync("subscription.updated", Paddle(sub, customer, price, "past_due", t, data), pastDueAt.AddHours(1));
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.GraceEndsAt!.Value.ShouldBe(pastDueAt.AddDays(7), TimeSpan.FromMilliseconds(1));
        (await App.EmailsAsync($"paddle-dunning:{sub}:")).Count.ShouldBe(1);

        App.Time.Advance(TimeSpan.FromDays(7));
        (await App.Service<JobRunner>().RunAsync(GraceExpiryJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.Status.ShouldBe("suspended");

        await App.DeliverPaddleAsync("subscription.updated", Paddle(sub, customer, price, "active", t, data), App.Time.GetUtcNow());
        var recovered = (await App.LocalSubscriptionAsync(tenant.OrganizationId))!;
        recovered.Status.ShouldBe("active");
        recovered.GraceEndsAt.ShouldBeNull();
    }

    private async Task PlantViolationAsync(string organizationId, string metric, string plan, DateTimeOffset? graceEndsAt = null, string action = "notify_admin")
    {
        var now = App.Time.GetUtcNow();
        await App.ExecuteAsync(
            """
            insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, grace_ends_at, detected_at, created_at, updated_at)
            values (@id, @organizationId, @metric, @plan, 12, 5, @action, @sentence, @graceEndsAt, @now, @now, @now)
            """, new { id = Guid.CreateVersion7().ToString(), organizationId, metric, plan, action, sentence = $"Your organization is over its {metric}", graceEndsAt, now });
    }

    [Fact]
    public async Task A_subscription_going_live_after_checkout_clears_the_violations_in_the_events_transaction()
    {
        var (_, price) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        await PlantViolationAsync(tenant.OrganizationId, "team_members", "free");
        (await (await App.Client(tenant).GetAsync("/v1/billing/violations")).JsonAsync()).ToString().ShouldContain("team_members");
        var t = App.Time.GetUtcNow().Second();

        await App.DeliverStripeAsync("customer.subscription.created",
            BillingKit.StripeSubscription(NewId("sub"), NewId("cus"), price, "active", t, t.AddDays(30), organizationId: tenant.OrganizationId), t);

        (await App.CountAsync("select count(*) from plan_violations where organization_id = @id and cleared_at is null", new { id = tenant.OrganizationId })).ShouldBe(0);
        await App.Service<IAccessGate>().EnsureAllowedAsync(tenant.OrganizationId, GatedAction.Create, "team_members", CancellationToken.None);
    }

    [Fact]
    public async Task Cancel_to_free_with_12_members_on_a_5_member_free_plan_stores_the_violations_and_sends_one_email()
    {
        (await App.AdminClient().PatchAsync("/v1/admin/plans/free", new StringContent(
            """{"limits":{"meetings_per_month":10,"team_members":5,"storage_bytes":1073741824}}""", System.Text.Encoding.UTF8, "application/json")))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var (plan, price) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var sub = NewId("sub");
        var customer = await LinkCustomerAsync(org);
        await App.PlantSubscriptionAsync(org, plan, "active", sub);
        var ownerEmail = $"owner-{Guid.NewGuid():N}@example.com";
        await App.AddMemberAsync(org, ownerEmail, "owner");
        for (var i = 0; i < 11; i++) await App.AddMemberAsync(org, $"member-{i}-{Guid.NewGuid():N}@example.com", "member");
        var t = App.Time.GetUtcNow().Second();

        var ended = BillingKit.StripeSubscription(sub, customer, price, "canceled", t.AddDays(-29), t.AddDays(1), canceledAt: t);
        await App.DeliverStripeAsync("customer.subscription.deleted", ended, t);
        await App.DeliverStripeAsync("customer.subscription.deleted", ended, t);

        await using var connection = await App.OpenAsync();
        var violation = await connection.QuerySingleAsync<(string PlanCode, long CurrentUsage, long LimitValue)>(
            "select plan_code, current_usage, limit_value from plan_violations where organization_id = @org and metric = 'team_members' and cleared_at is null", new { org });
        violation.PlanCode.ShouldBe("free");
        violation.CurrentUsage.ShouldBe(12);
        violation.LimitValue.ShouldBe(5);
        var emails = await App.EmailsAsync($"plan-in-force:{org}:");
        emails.ShouldHaveSingleItem().To.ShouldBe(ownerEmail);
        emails[0].Text.ShouldContain("12 members");
        var refused = await Should.ThrowAsync<ProblemException>(() =>
            App.Service<IAccessGate>().EnsureAllowedAsync(org, GatedAction.Create, "team_members", CancellationToken.None));
        refused.Status.ShouldBe(403);
    }

    [Fact]
    public async Task A_storage_violation_past_its_grace_refuses_storage_creation_403_with_the_sentence_the_emails_promise()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var graceEnds = App.Time.GetUtcNow().AddDays(30);
        await PlantViolationAsync(tenant.OrganizationId, "storage_bytes", "free", graceEnds, action: "grace_period");
        var gate = App.Service<IAccessGate>();
        await gate.EnsureAllowedAsync(tenant.OrganizationId, GatedAction.Create, "storage_bytes", CancellationToken.None);

        App.Time.Advance(TimeSpan.FromDays(30));
        var refused = await Should.ThrowAsync<ProblemException>(() => gate.EnsureAllowedAsync(tenant.OrganizationId, GatedAction.Create, "storage_bytes", CancellationToken.None));
        refused.Status.ShouldBe(403);
        refused.Code.ShouldBe("plan_violation");
        refused.Message.ShouldContain($"recordings and uploads stopped on {graceEnds:yyyy-MM-dd}");
    }

    [Fact]
    public async Task Stripe_pause_collection_counts_as_paused_for_the_gate()
    {
        var (_, price) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var t = App.Time.GetUtcNow().Second();
        var subscription = BillingKit.StripeSubscription(NewId("sub"), NewId("cus"), price, "active", t, t.AddDays(30), organizationId: tenant.OrganizationId);
        subscription["pause_collection"] = new Dictionary<string, object?> { ["behavior"] = "void", ["resumes_at"] = null };

        await App.DeliverStripeAsync("customer.subscription.updated", subscription, t);

        var access = await (await App.Client(tenant).GetAsync("/v1/billing/access")).JsonAsync();
        access.GetProperty("canCreate").GetBoolean().ShouldBeFalse();
        access.GetProperty("refusalCode").GetString().ShouldBe("subscription_paused");
    }

    [Fact]
    public async Task Deleting_an_organization_expires_its_open_checkout_session_at_Stripe()
    {
        var (plan, _) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var body = await (await App.Client(tenant).PostJsonAsync("/v1/billing/checkout",
            new { plan, successUrl = "https://app.example.com/done", cancelUrl = "https://app.example.com/billing" })).JsonAsync();
        var sessionId = body.GetProperty("sessionId").GetString()!;

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await App.DispatchOutboxAsync();

        App.Stripe().Received("POST", $"/v1/checkout/sessions/{sessionId}/expire").ShouldHaveSingleItem().Status.ShouldBe(200);
        App.Stripe().CheckoutSessions[sessionId]["status"].ShouldBe("expired");
    }

    [Fact]
    public async Task A_webhook_for_a_deleted_organizations_new_subscription_cancels_it_at_Stripe_and_alerts()
    {
        var (_, price) = await PlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var sub = NewId("sub");
        var customer = NewId("cus");
        var t = App.Time.GetUtcNow().Second();
        App.Stripe().PlantSubscription(sub, customer, price, "active", t, t.AddDays(30));

        await App.DeliverStripeAsync("customer.subscription.created",
            BillingKit.StripeSubscription(sub, customer, price, "active", t, t.AddDays(30), organizationId: tenant.OrganizationId), t);
        await App.DispatchOutboxAsync();

        (await App.LocalSubscriptionAsync(tenant.OrganizationId)).ShouldBeNull();
        App.Stripe().Received("DELETE", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem().Status.ShouldBe(200);
        App.Stripe().Subscriptions[sub]["status"].ShouldBe("canceled");
        (await DiscrepanciesAsync(sub, "deleted_organization")).ShouldBe(1);
        (await AlertsAsync(sub)).ShouldBe(1);
    }

    [Fact]
    public async Task The_fake_expires_only_an_open_checkout_session_as_Stripe_does()
    {
        using var http = new HttpClient { BaseAddress = new Uri(App.Stripe().BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", StripeTestServer.ApiKey);
        var created = await (await http.PostAsync("/v1/checkout/sessions", new FormUrlEncodedContent(new Dictionary<string, string> { ["mode"] = "subscription" }))).JsonAsync();
        var id = created.GetProperty("id").GetString()!;
        created.GetProperty("expires_at").GetInt64().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddHours(23).ToUnixTimeSeconds());

        var expired = await http.PostAsync($"/v1/checkout/sessions/{id}/expire", null);
        expired.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await expired.JsonAsync()).GetProperty("status").GetString().ShouldBe("expired");
        var again = await http.PostAsync($"/v1/checkout/sessions/{id}/expire", null);
        again.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await again.JsonAsync()).GetProperty("error").GetProperty("code").GetString().ShouldBe("checkout_session_not_open");
    }
}

public sealed class SubscriptionLifecycleTestsOnSqlite(SqliteApp<BillingSetup> app) : SubscriptionLifecycleTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class SubscriptionLifecycleTestsOnPostgres(PostgresApp<BillingSetup> app) : SubscriptionLifecycleTests(app), IClassFixture<PostgresApp<BillingSetup>>;
