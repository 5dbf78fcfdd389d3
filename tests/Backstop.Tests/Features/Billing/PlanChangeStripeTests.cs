using System.Globalization;

namespace Backstop.Tests.Features.Billing;

/// <summary>Plan changes against the faithful Stripe fake: what the schedule's phases carry, what an upgrade charges, an upgrade replacing a pending downgrade.</summary>
public abstract class PlanChangeStripeTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.SetupAs<PlanChangeSetup>().Stripe;

    private async Task<(string Plan, string? Pending, string? Schedule)> LocalAsync(string rowId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string, string?, string?)>(
            "select plan_code, pending_plan_code, pending_schedule_id from subscriptions where id = @rowId", new { rowId });
    }

    private string PriceAtStripe(string subscriptionId) =>
        (string)((Dictionary<string, object?>)StripeTestServer.Item(Stripe.Snapshot(subscriptionId))["price"]!)["id"]!;

    private static List<string?> Coupons(Dictionary<string, object?> phase) =>
        ((List<object?>)phase["discounts"]!).Cast<Dictionary<string, object?>>().Select(d => (string?)d["coupon"]).ToList();

    [Fact]
    public async Task A_downgrade_during_a_trial_keeps_the_coupon_and_the_trial_end_in_the_schedule_phases_and_applies_at_the_trial_end()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var now = App.Time.GetUtcNow();
        var trialEnd = now.AddDays(10).Second();
        Stripe.PlantSubscription(a.StripeSubscriptionId, "cus_" + a.StripeSubscriptionId, "price_" + a.Pro, "trialing", now.AddDays(-4), trialEnd,
            couponId: "co_loyal", trialEnd: trialEnd, metadata: new Dictionary<string, object?> { ["organization_id"] = a.OrganizationId }, defaultPaymentMethod: "pm_visa");
        await App.ExecuteAsync("update subscriptions set status = 'trialing', trial_end = @trialEnd, current_period_end = @trialEnd where id = @id",
            new { trialEnd, id = a.SubscriptionRowId });

        var response = await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic });

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("pendingChange").GetProperty("effectiveAt").GetDateTimeOffset().ShouldBe(trialEnd);
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.downgrade_schedule' and organization_id = @id and target_id = @row",
            new { id = a.OrganizationId, row = a.SubscriptionRowId })).ShouldBe(1);
        var schedule = (await LocalAsync(a.SubscriptionRowId)).Schedule!;
        var phases = Stripe.Phases(schedule);
        phases.Count.ShouldBe(2);
        Coupons(phases[0]).ShouldBe(["co_loyal"]);
        phases[0]["trial_end"].ShouldBe(trialEnd.ToUnixTimeSeconds());
        phases[0]["end_date"].ShouldBe(trialEnd.ToUnixTimeSeconds());
        ((Dictionary<string, object?>)phases[0]["metadata"]!)["organization_id"].ShouldBe(a.OrganizationId);
        phases[0]["default_payment_method"].ShouldBe("pm_visa");
        Coupons(phases[1]).ShouldBe(["co_loyal"]);
        phases[1]["start_date"].ShouldBe(trialEnd.ToUnixTimeSeconds());
        ((Dictionary<string, object?>)phases[1]["metadata"]!)["organization_id"].ShouldBe(a.OrganizationId);
        phases[1]["default_payment_method"].ShouldBe("pm_visa");
        phases[1].ShouldNotContainKey("trial_end");
        // The subscription itself kept its discount and its trial.
        var subscription = Stripe.Snapshot(a.StripeSubscriptionId);
        subscription["status"].ShouldBe("trialing");
        subscription["trial_end"].ShouldBe(trialEnd.ToUnixTimeSeconds());
        ((List<object?>)subscription["discounts"]!).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Once_the_downgrade_applied_its_schedule_is_released_so_a_later_cancel_reaches_Stripe()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var schedule = (await LocalAsync(a.SubscriptionRowId)).Schedule!;
        App.Time.Advance(a.PeriodEnd - App.Time.GetUtcNow());
        var boundary = Stripe.AdvanceSchedule(schedule);
        Stripe.Snapshot(a.StripeSubscriptionId)["schedule"].ShouldBe(schedule);

        await App.DeliverStripeAsync("customer.subscription.updated", boundary, App.Time.GetUtcNow());
        await App.DispatchOutboxAsync();

        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Basic, null, null));
        Stripe.Snapshot(a.StripeSubscriptionId)["schedule"].ShouldBeNull();
        Stripe.Received("POST", $"/v1/subscription_schedules/{schedule}/release").ShouldHaveSingleItem().IdempotencyKey.ShouldBe($"schedule-release:{schedule}");
        (await App.Client(a.Tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await App.DispatchOutboxAsync();
        ((bool)Stripe.Snapshot(a.StripeSubscriptionId)["cancel_at_period_end"]!).ShouldBeTrue();
    }

    [Fact]
    public async Task An_upgrade_invoices_the_proration_at_the_preview_date_and_changes_the_plan_only_after_payment()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);
        var preview = await (await client.GetAsync($"/v1/billing/plan-change?plan={a.Max}")).JsonAsync();
        var prorationDate = preview.GetProperty("prorationDate").GetDateTimeOffset();
        App.Time.Advance(TimeSpan.FromMinutes(3));

        var response = await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max, prorationDate });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var update = Stripe.Received("POST", $"/v1/subscriptions/{a.StripeSubscriptionId}").ShouldHaveSingleItem();
        update.Form["proration_behavior"].ShouldBe("always_invoice");
        update.Form["proration_date"].ShouldBe(prorationDate.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        var invoice = Stripe.Invoices[(string)Stripe.Snapshot(a.StripeSubscriptionId)["latest_invoice"]!];
        invoice["status"].ShouldBe("paid");
        invoice["proration_date"].ShouldBe(prorationDate.ToUnixTimeSeconds());
        PriceAtStripe(a.StripeSubscriptionId).ShouldBe("price_" + a.Max);
        (await LocalAsync(a.SubscriptionRowId)).Plan.ShouldBe(a.Max);
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.upgrade' and organization_id = @id", new { id = a.OrganizationId })).ShouldBe(1);
        var other = await App.ArrangeSubscribedAsync(Stripe);
        await (await App.Client(other.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = other.Max, prorationDate = App.Time.GetUtcNow().AddDays(-40) }))
            .ShouldBeProblemAsync(400, "invalid_proration_date");
        PriceAtStripe(other.StripeSubscriptionId).ShouldBe("price_" + other.Pro);
    }

    [Fact]
    public async Task A_declined_upgrade_answers_402_with_the_invoice_payment_url_and_leaves_the_plan_unchanged()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        Stripe.Declining[(string)Stripe.Snapshot(a.StripeSubscriptionId)["customer"]!] = true;

        var problem = await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).ShouldBeProblemAsync(402, "payment_failed");

        var invoice = Stripe.Invoices[(string)Stripe.Snapshot(a.StripeSubscriptionId)["latest_invoice"]!];
        invoice["status"].ShouldBe("open");
        problem.GetProperty("paymentUrl").GetString().ShouldBe((string)invoice["hosted_invoice_url"]!);
        PriceAtStripe(a.StripeSubscriptionId).ShouldBe("price_" + a.Pro);
        (await LocalAsync(a.SubscriptionRowId)).Plan.ShouldBe(a.Pro);
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.upgrade' and organization_id = @id", new { id = a.OrganizationId })).ShouldBe(0);
    }

    [Fact]
    public async Task An_upgrade_during_a_pending_downgrade_releases_its_schedule_and_upgrades()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);
        (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var schedule = (await LocalAsync(a.SubscriptionRowId)).Schedule!;

        var response = await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max });

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Stripe.Schedules[schedule]["status"].ShouldBe("released");
        Stripe.Snapshot(a.StripeSubscriptionId)["schedule"].ShouldBeNull();
        PriceAtStripe(a.StripeSubscriptionId).ShouldBe("price_" + a.Max);
        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Max, null, null));
        (await App.CountAsync("select count(*) from audit_log where action = 'subscription.plan_change_cancel' and organization_id = @id", new { id = a.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task An_upgrade_during_a_pending_downgrade_that_Stripe_declines_schedules_the_downgrade_again()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);
        (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var first = (await LocalAsync(a.SubscriptionRowId)).Schedule!;
        Stripe.Declining[(string)Stripe.Snapshot(a.StripeSubscriptionId)["customer"]!] = true;

        await (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).ShouldBeProblemAsync(402, "payment_failed");

        var local = await LocalAsync(a.SubscriptionRowId);
        local.Plan.ShouldBe(a.Pro);
        local.Pending.ShouldBe(a.Basic);
        local.Schedule.ShouldNotBeNull().ShouldNotBe(first);
        Stripe.Snapshot(a.StripeSubscriptionId)["schedule"].ShouldBe(local.Schedule);
        var phases = Stripe.Phases(local.Schedule!);
        ((List<object?>)phases[1]["items"]!).Cast<Dictionary<string, object?>>().Single()["price"].ShouldBe("price_" + a.Basic);
        PriceAtStripe(a.StripeSubscriptionId).ShouldBe("price_" + a.Pro);
    }
}

public sealed class PlanChangeStripeTestsOnSqlite(SqliteApp<PlanChangeSetup> app) : PlanChangeStripeTests(app), IClassFixture<SqliteApp<PlanChangeSetup>>;

public sealed class PlanChangeStripeTestsOnPostgres(PostgresApp<PlanChangeSetup> app) : PlanChangeStripeTests(app), IClassFixture<PostgresApp<PlanChangeSetup>>;
