using Backstop.Features.Billing.Subscriptions;

namespace Backstop.Tests.Features.Billing;

/// <summary>A 202 cancel always reaches Stripe: through an attached schedule, past a stored 500, past an outage; the local flag is never reverted by a transient failure.</summary>
public abstract class CancelReachesStripeTests(BackstopFactory app) : AppTest(app)
{
    private StripeTestServer Stripe => App.Stripe();

    private async Task<(TestTenant Tenant, string Subscription, string Owner)> SubscribedAsync()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var owner = $"owner-{Guid.NewGuid():N}@example.com";
        await App.AddPlanMemberAsync(tenant.OrganizationId, owner, "owner");
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "active", sub);
        var now = App.Time.GetUtcNow();
        Stripe.PlantSubscription(sub, "cus_" + tenant.OrganizationId[..8], price, "active", now.AddDays(-1), now.AddDays(29));
        return (tenant, sub, owner);
    }

    private bool StripeCancels(string sub) => (bool)Stripe.Snapshot(sub)["cancel_at_period_end"]!;

    [Fact]
    public async Task A_cancel_with_a_schedule_attached_releases_it_and_reaches_Stripe()
    {
        var (tenant, sub, _) = await SubscribedAsync();
        var schedule = Stripe.AttachSchedule(sub);

        (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await App.DispatchOutboxAsync();

        StripeCancels(sub).ShouldBeTrue();
        Stripe.Snapshot(sub)["schedule"].ShouldBeNull();
        Stripe.Received("POST", $"/v1/subscription_schedules/{schedule}/release").ShouldHaveSingleItem().Status.ShouldBe(200);
        Stripe.Received("POST", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem().Status.ShouldBe(200);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'sent'", new { sub })).ShouldBe(1);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
    }

    [Fact]
    public async Task A_cancel_after_one_stored_500_reaches_Stripe_with_a_new_key_derived_from_the_attempt()
    {
        var (tenant, sub, _) = await SubscribedAsync();
        var calls = 0;
        // Stripe fails the first call once — and, as Stripe does, keeps that 500 under its key for 24 hours.
        Stripe.On("POST", $"/v1/subscriptions/{sub}", r => Interlocked.Increment(ref calls) == 1
            ? StripeAnswer.Error(500, "api_error", "Something went wrong on Stripe's end.")
            : Stripe.UpdateSubscription(r));
        (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        await App.DispatchOutboxAsync();
        StripeCancels(sub).ShouldBeFalse();
        App.Time.Advance(TimeSpan.FromMinutes(1));
        await App.DispatchOutboxAsync();

        var received = Stripe.Received("POST", $"/v1/subscriptions/{sub}");
        received.Select(r => (r.IdempotencyKey, r.Status, r.Replayed)).ShouldBe([($"cancel:{sub}:1", 500, false), ($"cancel:{sub}:1:r1", 200, false)]);
        StripeCancels(sub).ShouldBeTrue();
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'sent'", new { sub })).ShouldBe(1);
    }

    [Fact]
    public async Task A_cancel_during_a_15_minute_outage_reaches_Stripe_afterwards_and_the_local_flag_is_never_reverted()
    {
        var (tenant, sub, _) = await SubscribedAsync();
        Stripe.Down();
        try
        {
            (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
            // The dispatcher looks every 10 seconds of the 15 minutes (backoff 5 s doubling, +20 % jitter at most: the
            // 8th attempt comes before 14 minutes).
            for (var seconds = 0; seconds < 15 * 60; seconds += 10)
            {
                await App.DispatchOutboxAsync();
                App.Time.Advance(TimeSpan.FromSeconds(10));
            }
            (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
        }
        finally
        {
            Stripe.Up();
        }
        // Outbox:MaxAttempts (8) used up, and still pending, never dead.
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'pending' and attempts >= 8", new { sub })).ShouldBe(1);

        for (var minute = 0; minute < 30 && !StripeCancels(sub); minute++)
        {
            App.Time.Advance(TimeSpan.FromMinutes(1));
            await App.DispatchOutboxAsync();
        }

        StripeCancels(sub).ShouldBeTrue();
        Stripe.Received("POST", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem().IdempotencyKey!.ShouldStartWith($"cancel:{sub}:1:r");
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'sent'", new { sub })).ShouldBe(1);
    }

    [Fact]
    public async Task A_cancel_failing_for_an_hour_alerts_the_owners_once_and_keeps_trying()
    {
        var (tenant, sub, owner) = await SubscribedAsync();
        Stripe.On("POST", $"/v1/subscriptions/{sub}", _ => StripeAnswer.Error(503, "api_error", "Stripe is temporarily unavailable."));
        (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var alerts = "select count(*) from outbox_messages where channel = 'email' and reference = @sub and idempotency_key like 'stripe-call-stuck:%' and payload like @owner";

        for (var minute = 0; minute < 55; minute += 5)
        {
            await App.DispatchOutboxAsync();
            App.Time.Advance(TimeSpan.FromMinutes(5));
        }
        (await App.CountAsync(alerts, new { sub, owner = $"%{owner}%" })).ShouldBe(0);
        for (var minute = 0; minute < 120; minute += 5)
        {
            await App.DispatchOutboxAsync();
            App.Time.Advance(TimeSpan.FromMinutes(5));
        }

        (await App.CountAsync(alerts, new { sub, owner = $"%{owner}%" })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe' and reference = @sub and status = 'pending'", new { sub })).ShouldBe(1);
        (await App.LocalSubscriptionAsync(tenant.OrganizationId))!.CancelAtPeriodEnd.ShouldBeTrue();
        StripeCallFailures.AlertAfter.ShouldBe(TimeSpan.FromHours(1));
    }
}

public sealed class CancelReachesStripeTestsOnSqlite(SqliteApp<BillingSetup> app) : CancelReachesStripeTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class CancelReachesStripeTestsOnPostgres(PostgresApp<BillingSetup> app) : CancelReachesStripeTests(app), IClassFixture<PostgresApp<BillingSetup>>;
