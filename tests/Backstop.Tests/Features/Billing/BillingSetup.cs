using System.Security.Cryptography;
using System.Text;
using Backstop.Features.Billing;
using Backstop.Infrastructure.Outbox;

namespace Backstop.Tests.Features.Billing;

/// <summary>Stripe's API on the local fake, Stripe's and Paddle's webhook routes on, the outbox driven by the tests.</summary>
public class BillingSetup : StripeSetup
{
    public const string PaddleSecret = "pdl_ntfset_billing_test_secret";

    public override async ValueTask StartAsync()
    {
        await base.StartAsync();
        // WireMock's first answer can take seconds on a busy machine; pay it here, not inside a test.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await http.GetAsync(Stripe.BaseUrl + "/v1/warm-up");
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Paddle:WebhookSecret"] = PaddleSecret;
        settings["Paddle:CheckoutSecret"] = PaddleCheckoutSecret;
        settings["Billing:AlertEmail"] = AlertEmail;
        settings["Billing:Reconcile"] = "report";
    }

    public const string PaddleCheckoutSecret = "paddle-checkout-secret-for-the-billing-tests-0123456789";

    public const string AlertEmail = "billing-alerts@operator.example";
}

/// <summary>The same, with reconciliation repairing what it finds.</summary>
public sealed class BillingRepairSetup : BillingSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Billing:Reconcile"] = "repair";
    }
}

internal static class BillingKit
{
    public static StripeTestServer Stripe(this BackstopFactory app) => app.SetupAs<BillingSetup>().Stripe;

    public static Task<int> DispatchOutboxAsync(this BackstopFactory app) => app.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

    /// <summary>A checkout reference as the server issues it (<c>POST /v1/billing/paddle-checkout</c>).</summary>
    public static string PaddleReference(this BackstopFactory app, string organizationId) =>
        app.Service<Backstop.Features.Billing.Subscriptions.PaddleCheckoutReferences>().Issue(organizationId);

    public static string NewCode(string prefix = "plan") => $"{prefix}-{Guid.NewGuid():N}"[..24];

    /// <summary>A plan made through the operator API (so the test covers the same path an operator takes).</summary>
    public static async Task<JsonElement> CreatePlanAsync(this BackstopFactory app, string code, string? stripePriceId = null, int trialDays = 0,
        string? paddlePriceId = null, object? limits = null)
    {
        var response = await app.AdminClient().PostJsonAsync("/v1/admin/plans", new
        {
            code, name = "Plan " + code, stripePriceId, paddlePriceId, trialDays,
            limits = limits ?? new Dictionary<string, long> { ["meetings_per_month"] = 100, ["team_members"] = -1 },
        });
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 201) throw new InvalidOperationException($"Creating a plan answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static string NewPrice() => "price_" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>A Paddle notification signed as Paddle signs (<c>ts=…;h1=HMAC-SHA256(secret, "ts:body")</c>).</summary>
    public static async Task DeliverPaddleAsync(this BackstopFactory app, string type, object data, DateTimeOffset occurredAt, string? eventId = null)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["event_id"] = eventId ?? "evt_" + Guid.NewGuid().ToString("N"), ["event_type"] = type,
            ["occurred_at"] = occurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["notification_id"] = "ntf_" + Guid.NewGuid().ToString("N"), ["data"] = data,
        });
        var ts = app.Time.GetUtcNow().ToUnixTimeSeconds();
        var h1 = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(BillingSetup.PaddleSecret), Encoding.UTF8.GetBytes($"{ts}:{body}")));
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/paddle") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Paddle-Signature", $"ts={ts};h1={h1}");
        var response = await app.CreateClient().SendAsync(request);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"The inbox answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Stripe's subscription object (API 2025-03-31 and later: the period on the item).</summary>
    public static Dictionary<string, object?> StripeSubscription(string id, string customer, string priceId, string status, DateTimeOffset periodStart,
        DateTimeOffset periodEnd, bool cancelAtPeriodEnd = false, string? organizationId = null, DateTimeOffset? trialEnd = null, DateTimeOffset? canceledAt = null) => new()
    {
        ["id"] = id, ["object"] = "subscription", ["customer"] = customer, ["status"] = status, ["cancel_at_period_end"] = cancelAtPeriodEnd,
        ["canceled_at"] = canceledAt?.ToUnixTimeSeconds(), ["trial_end"] = trialEnd?.ToUnixTimeSeconds(),
        ["metadata"] = organizationId is null ? new Dictionary<string, object?>() : new Dictionary<string, object?> { ["organization_id"] = organizationId },
        ["items"] = new Dictionary<string, object?>
        {
            ["object"] = "list",
            ["data"] = new List<object?>
            {
                new Dictionary<string, object?>
                {
                    ["id"] = "si_" + id, ["object"] = "subscription_item",
                    ["price"] = new Dictionary<string, object?> { ["id"] = priceId, ["object"] = "price" },
                    ["current_period_start"] = periodStart.ToUnixTimeSeconds(), ["current_period_end"] = periodEnd.ToUnixTimeSeconds(),
                },
            },
        },
    };

    /// <summary>The organization's local subscription row, read with the slice's own query.</summary>
    public static async Task<SubscriptionRow?> LocalSubscriptionAsync(this BackstopFactory app, string organizationId)
    {
        await using var connection = await app.OpenAsync();
        return await BillingSql.FindSubscriptionAsync(connection, null, organizationId, CancellationToken.None);
    }

    public static async Task ExecuteAsync(this BackstopFactory app, string sql, object? args = null)
    {
        await using var connection = await app.OpenAsync();
        await connection.ExecuteAsync(sql, args);
    }

    /// <summary>Whole seconds, as Stripe's timestamps are.</summary>
    public static DateTimeOffset Second(this DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds());
}
