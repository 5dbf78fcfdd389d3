using System.Net.Http.Json;
using Backstop.Tests.Infrastructure.Inbox;

namespace Backstop.Tests.Features.Quota;

/// <summary>Stripe (fake API and signed events) and Paddle (signed events) configured, for the renewal tests.</summary>
public sealed class QuotaSetup : StripeSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Paddle:WebhookSecret"] = Deliveries.PaddleSecret;
    }
}

internal static class QuotaKit
{
    /// <summary>A fresh organization on a fresh active plan with these limits (its subscription period is [now - 1 day, now + 29 days)).</summary>
    public static async Task<(TestTenant Tenant, HttpClient Client)> TenantOnPlanAsync(this BackstopFactory app, IReadOnlyDictionary<string, long> limits,
        string status = "active")
    {
        var tenant = await app.CreateTenantAsync();
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await app.PlantPlanAsync(plan, limits);
        await app.PlantSubscriptionAsync(tenant.OrganizationId, plan, status, providerSubscriptionId: "sub_" + Guid.NewGuid().ToString("N"));
        return (tenant, app.Client(tenant));
    }

    /// <summary>A fresh organization without a subscription (the default plan, calendar-month periods).</summary>
    public static async Task<(TestTenant Tenant, HttpClient Client)> TenantAsync(this BackstopFactory app)
    {
        var tenant = await app.CreateTenantAsync();
        return (tenant, app.Client(tenant));
    }

    /// <summary>Declares an application metric with a default limit through the admin API.</summary>
    public static async Task<string> DeclareMetricAsync(this BackstopFactory app, string kind, long? defaultLimit, bool creation = true)
    {
        var name = "m_" + Guid.NewGuid().ToString("N")[..12];
        var response = await app.AdminClient().PutAsJsonAsync($"/v1/admin/metrics/{name}", new { kind, description = "test", defaultLimit, creation }, Http.Json);
        if ((int)response.StatusCode != 200) throw new InvalidOperationException($"Declaring a metric answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return name;
    }

    public static Task<HttpResponseMessage> ConsumeAsync(this HttpClient client, string metric, long amount = 1, string? key = null) =>
        client.PostJsonAsync($"/v1/usage/{metric}/consume", new { amount, idempotencyKey = key });

    public static Task<HttpResponseMessage> ReleaseAsync(this HttpClient client, string metric, long amount = 1, string? key = null) =>
        client.PostJsonAsync($"/v1/usage/{metric}/release", new { amount, idempotencyKey = key });

    public static async Task<JsonElement> UsageAsync(this HttpClient client, string metric)
    {
        var response = await client.GetAsync($"/v1/usage/{metric}");
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 200) throw new InvalidOperationException($"GET usage answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Fires all requests at once (released together), returns the responses.</summary>
    public static async Task<HttpResponseMessage[]> ConcurrentlyAsync(int count, Func<int, Task<HttpResponseMessage>> send)
    {
        var start = new TaskCompletionSource();
        var tasks = Enumerable.Range(0, count).Select(async i => { await start.Task; return await send(i); }).ToArray();
        start.SetResult();
        return await Task.WhenAll(tasks);
    }
}
