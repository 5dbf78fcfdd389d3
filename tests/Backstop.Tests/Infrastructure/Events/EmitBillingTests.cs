using Backstop.Features.Billing.Dunning;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Tests.Features.Billing;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>Dunning's setup with two inbox attempts, so that a failing Stripe event goes dead within a test.</summary>
public sealed class EmitBillingSetup : DunningSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Webhooks:MaxAttempts"] = "2";
    }
}

/// <summary>
/// Billing's events through Stripe's signed webhooks, the grace expiry job and the API, and the inbox's
/// <c>inbox.event_dead</c>: one event per move of the subscription, none for a change that failed.
/// </summary>
public abstract class EmitBillingTests(BackstopFactory app) : AppTest(app)
{
    private const string Price = "price_pro_monthly";

    private static string NewId(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..24];

    [Fact]
    public async Task A_subscription_s_life_writes_one_event_per_move_with_the_subscription_as_the_API_shows_it()
    {
        await App.EnsurePlanAsync();
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var (sub, customer) = (NewId("sub"), NewId("cus"));
        var now = App.Time.GetUtcNow();
        await App.DeliverStripeAsync("customer.subscription.created",
            BillingKit.StripeSubscription(sub, customer, Price, "active", now.AddDays(-1), now.AddDays(29), organizationId: org), now);
        var row = (await App.LocalSubscriptionAsync(org)).ShouldNotBeNull();
        var billed = new BilledTenant(tenant, row.Id, sub, customer, []);

        App.Time.Advance(TimeSpan.FromMinutes(1));
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(billed, invoice, attempt: 1));
        App.Time.Advance(TimeSpan.FromDays(1));
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(billed, invoice, attempt: 2)); // still past due: no event
        App.Time.Advance(TimeSpan.FromDays(7));
        await App.Service<JobRunner>().RunAsync(GraceExpiryJob.Id, CancellationToken.None);
        await App.DeliverStripeAsync("invoice.paid", DunningKit.Invoice(billed, invoice, attempt: 3));
        var cancel = await App.Client(tenant).DeleteAsync("/v1/billing/subscription");
        cancel.StatusCode.ShouldBe(HttpStatusCode.Accepted, await cancel.Content.ReadAsStringAsync());

        var events = await App.EventsAsync(org, "subscription.");
        events.Select(e => e.Type).ShouldBe([EventTypes.SubscriptionActivated, EventTypes.SubscriptionPastDue, EventTypes.SubscriptionSuspended,
            EventTypes.SubscriptionResumed, EventTypes.SubscriptionCanceled]);
        events.Select(e => e.Data.GetProperty("status").GetString()).ShouldBe(["active", "past_due", "suspended", "active", "active"]);
        events.ShouldAllBe(e => e.OrganizationId == org && e.Data.GetProperty("plan").GetString() == DunningKit.Plan);
        events[1].Data.GetProperty("paymentRetryCount").GetInt32().ShouldBe(1);
        events[1].Data.GetProperty("graceEndsAt").GetDateTimeOffset().ShouldBe(now.AddMinutes(1).AddDays(7));
        events[4].Data.GetProperty("cancelAtPeriodEnd").GetBoolean().ShouldBeTrue();
        events.ShouldAllBe(e => !e.Data.GetRawText().Contains(customer));
        // The organization's stream has no gap: organization, key, then these five.
        (await App.EventsAsync(org)).Select(e => e.Sequence).ShouldBe([1L, 2, 3, 4, 5, 6, 7]);
    }

    [Fact]
    public async Task A_plan_change_at_Stripe_writes_plan_changed_and_violations_changed_and_back()
    {
        var t = await App.BilledTenantAsync();
        var tiny = BillingKit.NewCode();
        var tinyPrice = BillingKit.NewPrice();
        await App.CreatePlanAsync(tiny, tinyPrice, limits: new Dictionary<string, long> { ["meetings_per_month"] = 100, ["team_members"] = 1 });
        var now = App.Time.GetUtcNow();
        await App.DeliverStripeAsync("customer.subscription.updated",
            BillingKit.StripeSubscription(t.StripeSubscriptionId, t.CustomerId, tinyPrice, "active", now.AddDays(-1), now.AddDays(29), organizationId: t.OrganizationId), now);
        await App.DeliverStripeAsync("customer.subscription.updated",
            BillingKit.StripeSubscription(t.StripeSubscriptionId, t.CustomerId, Price, "active", now.AddDays(-1), now.AddDays(29), organizationId: t.OrganizationId), now.AddSeconds(5));

        var events = await App.EventsAsync(t.OrganizationId, "");
        var billing = events.Where(e => e.Type is EventTypes.SubscriptionPlanChanged or EventTypes.BillingViolationsChanged).ToList();
        billing.Select(e => e.Type).ShouldBe([EventTypes.BillingViolationsChanged, EventTypes.SubscriptionPlanChanged,
            EventTypes.BillingViolationsChanged, EventTypes.SubscriptionPlanChanged]);
        billing[1].Data.GetProperty("plan").GetString().ShouldBe(tiny);
        billing[3].Data.GetProperty("plan").GetString().ShouldBe(DunningKit.Plan);
        var opened = billing[0].Data.GetProperty("violations").EnumerateArray().ShouldHaveSingleItem();
        opened.GetProperty("metric").GetString().ShouldBe("team_members");
        opened.GetProperty("limit").GetInt64().ShouldBe(1);
        opened.GetProperty("plan").GetString().ShouldBe(tiny);
        billing[2].Data.GetProperty("violations").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task Disputes_write_opened_and_closed_for_the_charge_s_organization()
    {
        var t = await App.BilledTenantAsync();
        var id = NewId("dp");
        var charge = new Dictionary<string, object?> { ["id"] = NewId("ch"), ["object"] = "charge", ["customer"] = t.CustomerId };
        Dictionary<string, object?> Dispute(string status) => new()
        {
            ["id"] = id, ["object"] = "dispute", ["amount"] = 4900, ["currency"] = "usd", ["charge"] = charge, ["reason"] = "fraudulent",
            ["status"] = status, ["created"] = App.Time.GetUtcNow().AddMinutes(-10).ToUnixTimeSeconds(), ["payment_intent"] = "pi_" + id,
        };
        await App.DeliverStripeAsync("charge.dispute.created", Dispute("needs_response"));
        await App.DeliverStripeAsync("charge.dispute.closed", Dispute("lost"));

        var events = await App.EventsAsync(t.OrganizationId, "billing.dispute");
        events.Select(e => e.Type).ShouldBe([EventTypes.BillingDisputeOpened, EventTypes.BillingDisputeClosed]);
        events.ShouldAllBe(e => e.Data.GetProperty("providerDisputeId").GetString() == id && e.Data.GetProperty("organizationId").GetString() == t.OrganizationId);
        events[0].Data.GetProperty("status").GetString().ShouldBe("needs_response");
        events[0].Data.GetProperty("amount").GetInt64().ShouldBe(4900);
        events[1].Data.GetProperty("status").GetString().ShouldBe("lost");
    }

    [Fact]
    public async Task A_failing_Stripe_event_writes_no_subscription_event_and_when_it_goes_dead_one_inbox_event_dead_without_its_body()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var (sub, customer, unknownPrice) = (NewId("sub"), NewId("cus"), BillingKit.NewPrice());
        var now = App.Time.GetUtcNow();
        var eventId = NewId("evt");
        // No plan has this price: the handler throws after nothing else, every attempt, and its transaction rolls back.
        await App.DeliverStripeAsync("customer.subscription.created",
            BillingKit.StripeSubscription(sub, customer, unknownPrice, "active", now.AddDays(-1), now.AddDays(29), organizationId: tenant.OrganizationId), now, eventId);
        (await App.EventStatusAsync(eventId)).ShouldBe("failed");
        (await App.OperatorEventsAsync(EventTypes.InboxEventDead, "eventId", eventId)).ShouldBeEmpty();

        App.Time.Advance(TimeSpan.FromDays(1));
        await using var connection = await App.OpenAsync();
        var id = await connection.ExecuteScalarAsync<string>("select id from webhook_events where provider = 'stripe' and event_id = @eventId", new { eventId });
        (await App.Service<WebhookInbox>().ProcessAsync(id!, CancellationToken.None)).ShouldBe(ProcessOutcome.Dead);

        (await App.EventsAsync(tenant.OrganizationId, "subscription.")).ShouldBeEmpty();
        var dead = (await App.OperatorEventsAsync(EventTypes.InboxEventDead, "eventId", eventId)).ShouldHaveSingleItem();
        dead.OrganizationId.ShouldBeNull();
        dead.Data.GetProperty("id").GetString().ShouldBe(id);
        dead.Data.GetProperty("provider").GetString().ShouldBe("stripe");
        dead.Data.GetProperty("eventType").GetString().ShouldBe("customer.subscription.created");
        dead.Data.GetProperty("attempts").GetInt32().ShouldBe(2);
        dead.Data.GetProperty("lastError").GetString()!.ShouldContain("No plan has the Stripe price");
        dead.Data.TryGetProperty("payload", out _).ShouldBeFalse();
        dead.Data.GetRawText().ShouldNotContain(customer);
    }
}

public sealed class EmitBillingTestsOnSqlite(SqliteApp<EmitBillingSetup> app) : EmitBillingTests(app), IClassFixture<SqliteApp<EmitBillingSetup>>;

public sealed class EmitBillingTestsOnPostgres(PostgresApp<EmitBillingSetup> app) : EmitBillingTests(app), IClassFixture<PostgresApp<EmitBillingSetup>>;
