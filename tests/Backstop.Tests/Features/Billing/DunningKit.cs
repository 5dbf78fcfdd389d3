using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Tests.Features.Billing;

/// <summary>
/// The app with Stripe's fake and webhook secret (<see cref="StripeSetup"/>), a local Recall (so that starting a
/// bot works when the gate lets it), dunning settings, and the outbox driven by the tests (emails are asserted from
/// <c>outbox_messages</c>, and from the pickup folder once dispatched).
/// </summary>
public class DunningSetup : StripeSetup
{
    public const string UpdatePaymentUrl = "https://billing.example.com/update-card";
    public const string AlertEmail = "billing-alerts@example.com";

    public RecallFake Recall { get; } = new();

    public string MailPath { get; } = Path.Combine(Path.GetTempPath(), "backstop-dunning-mail-" + Guid.NewGuid().ToString("N")[..12]);

    public override async ValueTask StartAsync()
    {
        await base.StartAsync();
        // WireMock's first answer can take seconds on a busy machine: longer than the client timeout.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await http.PostAsync(Recall.Url + "/api/v1/bot/", new StringContent("{\"meeting_url\":\"warm-up\"}"));
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Billing:UpdatePaymentUrl"] = UpdatePaymentUrl;
        settings["Billing:AlertEmail"] = AlertEmail;
        settings["Email:PickupFolder"] = MailPath;
        settings["Recall:ApiKey"] = RecallFake.ApiKey;
        settings["Recall:WebhookSecret"] = Backstop.Tests.Features.Bots.BotsSetup.RecallWebhookSecret;
        settings["Recall:BaseUrl"] = Recall.Url;
        settings["Recall:TimeoutSeconds"] = "10";
    }

    public override async ValueTask DisposeAsync()
    {
        Recall.Dispose();
        if (Directory.Exists(MailPath)) Directory.Delete(MailPath, recursive: true);
        await base.DisposeAsync();
    }
}

/// <summary>An organization with two owners (and a plain member, who gets no billing mail), on a planted Stripe subscription.</summary>
public sealed record BilledTenant(TestTenant Tenant, string SubscriptionId, string StripeSubscriptionId, string CustomerId, IReadOnlyList<string> Owners)
{
    public string OrganizationId => Tenant.OrganizationId;
}

internal static class DunningKit
{
    public const string Plan = "pro";

    public static async Task EnsurePlanAsync(this BackstopFactory app)
    {
        await using var connection = await app.OpenAsync();
        if (await connection.ExecuteScalarAsync<long>("select count(*) from plans where code = @Plan", new { Plan }) == 0)
            await app.PlantPlanAsync(Plan, new Dictionary<string, long> { ["meetings_per_month"] = 100, ["team_members"] = 10, ["storage_bytes"] = 10L << 30 },
                stripePriceId: "price_pro_monthly");
    }

    /// <summary>
    /// An organization on an active planted subscription, with its members added while it is active (other slices
    /// may gate member adds), then moved to <paramref name="status"/> with <paramref name="graceEndsAt"/> (arrange-only).
    /// </summary>
    public static async Task<BilledTenant> BilledTenantAsync(this BackstopFactory app, string status = "active", DateTimeOffset? graceEndsAt = null)
    {
        await app.EnsurePlanAsync();
        var tenant = await app.CreateTenantAsync();
        var stripeId = "sub_" + Guid.NewGuid().ToString("N")[..14];
        var id = await app.PlantSubscriptionAsync(tenant.OrganizationId, Plan, "active", stripeId);
        var owners = new[] { $"owner-a-{Guid.NewGuid():N}@example.com", $"owner-b-{Guid.NewGuid():N}@example.com" };
        foreach (var owner in owners) await app.AddMemberAsync(tenant.OrganizationId, owner, "owner");
        await app.AddMemberAsync(tenant.OrganizationId, $"member-{Guid.NewGuid():N}@example.com", "member");
        var customer = "cus_" + Guid.NewGuid().ToString("N")[..16];
        await using var connection = await app.OpenAsync();
        await connection.ExecuteAsync("update subscriptions set status = @status, grace_ends_at = @graceEndsAt where id = @id",
            new { id, status, graceEndsAt });
        await connection.ExecuteAsync(
            """
            insert into billing_customers (organization_id, provider, customer_id, created_at) values (@org, 'stripe', @customer, @now)
            on conflict (organization_id) do nothing
            """, new { org = tenant.OrganizationId, customer, now = app.Time.GetUtcNow() });
        return new BilledTenant(tenant, id, stripeId, customer, owners);
    }

    public static async Task AddMemberAsync(this BackstopFactory app, string organizationId, string email, string role)
    {
        var response = await app.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/members",
            new { externalUserId = "user_" + Guid.NewGuid().ToString("N")[..10], email, role });
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Adding a member answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>A Stripe invoice (API 2026-10-28: the subscription under <c>parent.subscription_details</c>).</summary>
    public static Dictionary<string, object?> Invoice(BilledTenant t, string invoiceId, int attempt, long amountDue = 4900, string currency = "usd",
        string? hostedUrl = null, bool legacyShape = false)
    {
        var invoice = new Dictionary<string, object?>
        {
            ["id"] = invoiceId, ["object"] = "invoice", ["customer"] = t.CustomerId, ["amount_due"] = amountDue, ["currency"] = currency,
            ["attempt_count"] = attempt, ["attempted"] = true, ["status"] = "open", ["billing_reason"] = "subscription_cycle",
            ["hosted_invoice_url"] = hostedUrl ?? $"https://invoice.stripe.com/i/acct_test/{invoiceId}",
        };
        if (legacyShape) invoice["subscription"] = t.StripeSubscriptionId;
        else
            invoice["parent"] = new Dictionary<string, object?>
            {
                ["type"] = "subscription_details",
                ["subscription_details"] = new Dictionary<string, object?> { ["subscription"] = t.StripeSubscriptionId, ["metadata"] = new Dictionary<string, object?>() },
            };
        return invoice;
    }

    public static string NewInvoiceId() => "in_" + Guid.NewGuid().ToString("N")[..20];

    public static string NewEventId() => "evt_" + Guid.NewGuid().ToString("N")[..24];

    public static async Task<string> EventStatusAsync(this BackstopFactory app, string eventId)
    {
        await using var connection = await app.OpenAsync();
        return await connection.ExecuteScalarAsync<string>("select status from webhook_events where provider = 'stripe' and event_id = @eventId", new { eventId }) ?? "missing";
    }

    public sealed record SubscriptionState
    {
        public string Status { get; init; } = "";
        public DateTimeOffset? GraceEndsAt { get; init; }
        public DateTimeOffset? PaymentFailedAt { get; init; }
        public int PaymentRetryCount { get; init; }
    }

    public static async Task<SubscriptionState> SubscriptionAsync(this BackstopFactory app, string id)
    {
        await using var connection = await app.OpenAsync();
        return await connection.QuerySingleAsync<SubscriptionState>(
            "select status, grace_ends_at, payment_failed_at, payment_retry_count from subscriptions where id = @id", new { id });
    }

    /// <summary>The email messages in the outbox whose idempotency key starts with <paramref name="keyPrefix"/>.</summary>
    public static async Task<List<EmailPayload>> EmailsAsync(this BackstopFactory app, string keyPrefix)
    {
        await using var connection = await app.OpenAsync();
        var payloads = await connection.QueryAsync<string>(
            "select payload from outbox_messages where channel = 'email' and idempotency_key like @prefix order by id",
            new { prefix = keyPrefix.Replace("%", "", StringComparison.Ordinal) + "%" });
        return payloads.Select(p => JsonSerializer.Deserialize<EmailPayload>(p, Http.Json)!).ToList();
    }

    public static Task<int> DispatchAsync(this BackstopFactory app) => app.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);

    public static Task<HttpResponseMessage> CreateMeetingAsync(this HttpClient client) =>
        client.PostJsonAsync("/v1/meetings", new { title = "Weekly sync", meetingUrl = $"https://us02web.zoom.us/j/{Random.Shared.NextInt64(10_000_000_000, 99_999_999_999)}?pwd={Guid.NewGuid():N}" });
}
