using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Tests.Infrastructure.Inbox;

namespace Backstop.Tests.Features.Quota;

/// <summary>Renewals from Stripe and Paddle move the billing anchor, once per period, through signed deliveries.</summary>
public abstract class RenewalTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Paddle_transaction_completed_delivered_twice_resets_the_period_once()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 5)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var starts = App.Time.GetUtcNow().AddMinutes(-5);
        var ends = starts.AddMonths(1);
        var body = TransactionCompleted(tenant.OrganizationId, "sub_01" + Guid.NewGuid().ToString("N"), starts, ends);

        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed", body);

        var reset = await client.UsageAsync(metric);
        reset.GetProperty("used").GetInt64().ShouldBe(0);
        reset.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(starts);
        reset.GetProperty("periodEnd").GetDateTimeOffset().ShouldBe(ends);
        (await client.ConsumeAsync(metric, 2)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The same payment delivered again under another event id (Paddle retries, a second destination): no second reset.
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed", body);

        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(2);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from webhook_events where provider = 'paddle' and status = 'processed' and payload like @like",
            new { like = "%" + tenant.OrganizationId + "%" })).ShouldBe(2);
    }

    [Fact]
    public async Task Paddle_mid_cycle_charges_do_not_reset_and_subscription_updated_moves_the_anchor()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var subscription = "sub_01" + Guid.NewGuid().ToString("N");
        var starts = App.Time.GetUtcNow().AddMinutes(-1);

        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed",
            TransactionCompleted(tenant.OrganizationId, subscription, starts, starts.AddMonths(1), origin: "subscription_update"));
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(3);

        // Billing handles the same event (its subscription row needs a plan with the Paddle price).
        var price = "pri_01" + Guid.NewGuid().ToString("N");
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        await using (var connection = await App.OpenAsync())
            await Dapper.SqlMapper.ExecuteAsync(connection, "update plans set paddle_price_id = @price where code = @plan", new { price, plan });
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "subscription.updated", JsonSerializer.Serialize(new
        {
            id = subscription, status = "active", customer_id = "ctm_01" + Guid.NewGuid().ToString("N"),
            items = new[] { new { price = new { id = price }, quantity = 1 } },
            current_billing_period = new { starts_at = Rfc(starts), ends_at = Rfc(starts.AddMonths(1)) },
            custom_data = new { organization_id = tenant.OrganizationId },
        }));
        var moved = await client.UsageAsync(metric);
        moved.GetProperty("used").GetInt64().ShouldBe(0);
        moved.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(starts);

        // A later renewal of the same subscription without custom data still finds its organization.
        App.Time.Advance(TimeSpan.FromDays(40));
        var next = App.Time.GetUtcNow().AddMinutes(-1);
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed",
            TransactionCompleted(null, subscription, next, next.AddMonths(1)));
        (await client.UsageAsync(metric)).GetProperty("periodStart").GetDateTimeOffset().ShouldBe(next);
    }

    [Fact]
    public async Task Stripe_renewal_starts_a_new_period()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 4);
        var (tenant, client) = await App.TenantAsync();
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var now = App.Time.GetUtcNow();
        var start = DateTimeOffset.FromUnixTimeSeconds(now.AddMinutes(-2).ToUnixTimeSeconds());
        var end = start.AddMonths(1);

        // A first invoice (subscription_create) does not start a period of its own.
        await App.DeliverStripeAsync("invoice.paid", Invoice(tenant.OrganizationId, "subscription_create", start, end));
        await (await client.ConsumeAsync(metric)).ShouldBeProblemAsync(403, "quota_exceeded");

        await App.DeliverStripeAsync("invoice.paid", Invoice(tenant.OrganizationId, "subscription_cycle", start, end));

        var renewed = await (await client.ConsumeAsync(metric)).JsonAsync();
        renewed.GetProperty("used").GetInt64().ShouldBe(1);
        renewed.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(start);
        renewed.GetProperty("periodEnd").GetDateTimeOffset().ShouldBe(end);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org and provider = 'stripe'", new { org = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task Only_the_paying_subscriptions_renewal_resets_and_twice_delivered_it_resets_once()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 4);
        var (tenant, client) = await App.TenantAsync();
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        var paying = "sub_" + Guid.NewGuid().ToString("N")[..14];
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "active", paying);
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var start = DateTimeOffset.FromUnixTimeSeconds(App.Time.GetUtcNow().AddMinutes(-2).ToUnixTimeSeconds());

        // A second subscription naming the same organization (a duplicate checkout) renews: it does not pay for the
        // organization's plan, so its renewal resets nothing.
        await App.DeliverStripeAsync("invoice.paid", Invoice(tenant.OrganizationId, "subscription_cycle", start, start.AddMonths(1), "sub_" + Guid.NewGuid().ToString("N")[..14]));
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(4);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(0);

        // The live subscription's renewal resets; delivered again (another event id), it resets nothing more.
        var renewal = Invoice(tenant.OrganizationId, "subscription_cycle", start, start.AddMonths(1), paying);
        await App.DeliverStripeAsync("invoice.paid", renewal);
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(0);
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await App.DeliverStripeAsync("invoice.paid", renewal);
        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(3);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
    }

    [Fact]
    public async Task A_cancelled_paddle_subscriptions_renewal_does_not_reset()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 5);
        var (tenant, client) = await App.TenantAsync();
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        var cancelled = "sub_01" + Guid.NewGuid().ToString("N");
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "canceled", cancelled, provider: "paddle");
        (await client.ConsumeAsync(metric, 5)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var starts = App.Time.GetUtcNow().AddMinutes(-5);

        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed",
            TransactionCompleted(tenant.OrganizationId, cancelled, starts, starts.AddMonths(1)));

        (await client.UsageAsync(metric)).GetProperty("used").GetInt64().ShouldBe(5);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(0);
    }

    [Fact]
    public async Task Stripe_renewals_out_of_order_and_twice_reset_once_per_period()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        var paying = "sub_" + Guid.NewGuid().ToString("N")[..14];
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "active", paying);
        var first = DateTimeOffset.FromUnixTimeSeconds(App.Time.GetUtcNow().AddMinutes(-2).ToUnixTimeSeconds());
        var january = Invoice(tenant.OrganizationId, "subscription_cycle", first, first.AddMonths(1), paying);
        await App.DeliverStripeAsync("invoice.paid", january);
        (await client.ConsumeAsync(metric, 4)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // 40 days on, the next renewal (the anchor's day moved: a billing-cycle change), then the previous one arrives
        // late (a retry) and the new one again: the anchor does not go back (its day would give another period), nothing resets twice.
        App.Time.Advance(TimeSpan.FromDays(41));
        var second = first.AddDays(40);
        await App.DeliverStripeAsync("invoice.paid", Invoice(tenant.OrganizationId, "subscription_cycle", second, second.AddMonths(1), paying));
        (await client.ConsumeAsync(metric, 3)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await App.DeliverStripeAsync("invoice.paid", january);
        await App.DeliverStripeAsync("invoice.paid", Invoice(tenant.OrganizationId, "subscription_cycle", second, second.AddMonths(1), paying));
        var usage = await client.UsageAsync(metric);
        usage.GetProperty("used").GetInt64().ShouldBe(3);
        usage.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(second);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(2);
    }

    [Fact]
    public async Task Paddle_renewals_out_of_order_reset_once_per_period_and_a_secondary_subscriptions_renewal_resets_nothing()
    {
        var metric = await App.DeclareMetricAsync("counter", defaultLimit: 10);
        var (tenant, client) = await App.TenantAsync();
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        var paying = "sub_01" + Guid.NewGuid().ToString("N");
        await App.PlantSubscriptionAsync(tenant.OrganizationId, plan, "active", paying, provider: "paddle");
        var first = App.Time.GetUtcNow().AddMinutes(-5);
        var earlier = TransactionCompleted(tenant.OrganizationId, paying, first, first.AddMonths(1));
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed", earlier);
        (await client.ConsumeAsync(metric, 6)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // 40 days on (the anchor's day moved), the next period's payment.
        App.Time.Advance(TimeSpan.FromDays(41));
        var second = first.AddDays(40);
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed", TransactionCompleted(tenant.OrganizationId, paying, second, second.AddMonths(1)));
        (await client.ConsumeAsync(metric, 2)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The earlier period's payment delivered late (a retry): the anchor does not go back, nothing resets.
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed", earlier);
        // A second subscription naming the same organization renews later in the period: not the one that pays.
        var secondary = second.AddDays(10);
        await DeliverPaddleAsync("evt_01" + Guid.NewGuid().ToString("N"), "transaction.completed",
            TransactionCompleted(tenant.OrganizationId, "sub_01" + Guid.NewGuid().ToString("N"), secondary, secondary.AddMonths(1)));
        var usage = await client.UsageAsync(metric);
        usage.GetProperty("used").GetInt64().ShouldBe(2);
        usage.GetProperty("periodStart").GetDateTimeOffset().ShouldBe(second);
        (await App.CountAsync("select count(*) from usage_periods where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(2);
    }

    private static object Invoice(string organizationId, string reason, DateTimeOffset start, DateTimeOffset end, string? subscription = null) => new
    {
        id = "in_" + Guid.NewGuid().ToString("N")[..14], @object = "invoice", billing_reason = reason, status = "paid",
        parent = new
        {
            type = "subscription_details",
            subscription_details = new { subscription = subscription ?? "sub_" + organizationId[..8], metadata = new { organization_id = organizationId } },
        },
        lines = new
        {
            @object = "list",
            data = new[] { new { id = "il_1", @object = "line_item", period = new { start = start.ToUnixTimeSeconds(), end = end.ToUnixTimeSeconds() } } },
        },
    };

    private static string TransactionCompleted(string? organizationId, string subscriptionId, DateTimeOffset starts, DateTimeOffset ends,
        string origin = "subscription_recurring") =>
        JsonSerializer.Serialize(new
        {
            id = "txn_01" + Guid.NewGuid().ToString("N"), status = "completed", customer_id = "ctm_01x", subscription_id = subscriptionId, origin,
            custom_data = organizationId is null ? null : new { organization_id = organizationId },
            billing_period = new { starts_at = Rfc(starts), ends_at = Rfc(ends) },
            billed_at = Rfc(starts), items = Array.Empty<object>(),
        });

    private static string Rfc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A Paddle delivery signed as Paddle signs: <c>Paddle-Signature: ts=…;h1=hex(HMAC-SHA256(secret, ts:body))</c>.</summary>
    private async Task DeliverPaddleAsync(string eventId, string type, string data)
    {
        var now = App.Time.GetUtcNow();
        var body = $$"""{"event_id":"{{eventId}}","event_type":"{{type}}","occurred_at":"{{Rfc(now)}}","notification_id":"ntf_01{{Guid.NewGuid():N}}","data":{{data}}}""";
        var ts = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var h1 = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Deliveries.PaddleSecret), Encoding.UTF8.GetBytes($"{ts}:{body}")));
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/paddle") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Paddle-Signature", $"ts={ts};h1={h1}");
        var response = await App.CreateClient().SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }
}

public sealed class RenewalTestsOnSqlite(SqliteApp<QuotaSetup> app) : RenewalTests(app), IClassFixture<SqliteApp<QuotaSetup>>;

public sealed class RenewalTestsOnPostgres(PostgresApp<QuotaSetup> app) : RenewalTests(app), IClassFixture<PostgresApp<QuotaSetup>>;
