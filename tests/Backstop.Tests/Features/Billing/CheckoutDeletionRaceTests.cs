using System.Collections.Concurrent;

namespace Backstop.Tests.Features.Billing;

/// <summary>
/// Checkouts and the deletion of their organization are exclusive: no open checkout survives a deleted organization, and
/// every Stripe session created for it is expired. Its own app: the Stripe fake's session route is wrapped to hold
/// chosen organizations' session creations.
/// </summary>
public abstract class CheckoutDeletionRaceTests(BackstopFactory app) : AppTest(app)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, (ManualResetEventSlim Arrived, ManualResetEventSlim Release)> held = new();

    private object Body(string plan, int i) => new { plan, successUrl = $"https://app.example.com/done?try={i}", cancelUrl = "https://app.example.com/billing" };

    private void HoldSessionsOf(string organizationId)
    {
        held[organizationId] = (new ManualResetEventSlim(), new ManualResetEventSlim());
        App.Stripe().Before("POST", "/v1/checkout/sessions", r =>
        {
            if (r.Form.GetValueOrDefault("client_reference_id") is { } org && held.TryGetValue(org, out var gate))
            {
                gate.Arrived.Set();
                gate.Release.Wait(Generous);
            }
        });
    }

    private async Task ShouldHaveNoOpenCheckoutAndEveryStripeSessionExpiredAsync(string organizationId)
    {
        (await App.CountAsync("select count(*) from billing_checkouts where organization_id = @organizationId and status in ('creating', 'open')",
            new { organizationId })).ShouldBe(0);
        await App.DispatchOutboxAsync();
        var sessions = App.Stripe().CheckoutSessions.Values.Where(s => (string?)s["client_reference_id"] == organizationId).ToList();
        foreach (var session in sessions) ((string?)session["status"]).ShouldBe("expired", $"session {session["id"]}");
        var progress = await App.DeletionRemainingAsync(organizationId);
        progress.GetProperty("open_checkout_sessions").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task A_session_Stripe_creates_while_the_organization_is_deleted_is_expired_and_the_checkout_answers_404()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        HoldSessionsOf(org);
        var client = App.Client(tenant);

        // Twenty concurrent checkouts: one claims and reaches Stripe, which holds it; the deletion commits meanwhile.
        var checkouts = Enumerable.Range(0, 20).Select(i => Task.Run(() => client.PostJsonAsync("/v1/billing/checkout", Body(plan, i)))).ToList();
        held[org].Arrived.Wait(Generous).ShouldBeTrue();
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        held[org].Release.Set();
        var answers = await Task.WhenAll(checkouts);

        // The one that created a session learns the organization is gone (as does any that claimed after the deletion);
        // none answered a session.
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.NotFound || a.StatusCode == HttpStatusCode.Conflict || a.StatusCode == HttpStatusCode.Unauthorized);
        foreach (var gone in answers.Where(a => a.StatusCode == HttpStatusCode.NotFound)) await gone.ShouldBeProblemAsync(404, "not_found");
        answers.Count(a => a.StatusCode == HttpStatusCode.NotFound).ShouldBeGreaterThanOrEqualTo(1);
        var created = App.Stripe().CheckoutSessions.Values.Where(s => (string?)s["client_reference_id"] == org).ShouldHaveSingleItem();
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'stripe-checkout' and idempotency_key = @key",
            new { key = $"checkout-expire:{created["id"]}" })).ShouldBe(1);
        await ShouldHaveNoOpenCheckoutAndEveryStripeSessionExpiredAsync(org);

        // Nothing can claim a checkout for it any more, even with a key the cache still knew.
        (await App.CountAsync("select count(*) from billing_checkouts where organization_id = @org and status = 'deleted'", new { org })).ShouldBe(1);
    }

    [Fact]
    public async Task Concurrent_checkouts_and_deletions_leave_no_open_checkout_for_any_deleted_organization()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var tenants = new List<TestTenant>();
        for (var i = 0; i < 4; i++) tenants.Add(await App.CreateTenantAsync("admin"));

        // For each organization, 20 checkouts and its deletion, all fired at once.
        var requests = tenants.SelectMany(t =>
            Enumerable.Range(0, 20).Select(i => Task.Run(async () => (await App.Client(t).PostJsonAsync("/v1/billing/checkout", Body(plan, i))).StatusCode))
                .Append(Task.Run(async () => (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{t.OrganizationId}")).StatusCode))).ToList();
        var statuses = await Task.WhenAll(requests);
        statuses.ShouldAllBe(s => s == HttpStatusCode.OK || s == HttpStatusCode.Conflict || s == HttpStatusCode.NotFound
                                  || s == HttpStatusCode.Unauthorized || s == HttpStatusCode.NoContent);
        statuses.Count(s => s == HttpStatusCode.NoContent).ShouldBe(tenants.Count);

        foreach (var tenant in tenants) await ShouldHaveNoOpenCheckoutAndEveryStripeSessionExpiredAsync(tenant.OrganizationId);
    }
}

public sealed class CheckoutDeletionRaceTestsOnSqlite(SqliteApp<BillingSetup> app) : CheckoutDeletionRaceTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class CheckoutDeletionRaceTestsOnPostgres(PostgresApp<BillingSetup> app) : CheckoutDeletionRaceTests(app), IClassFixture<PostgresApp<BillingSetup>>;
