using System.Collections.Concurrent;

namespace Backstop.Tests.Features.Billing;

/// <summary>
/// Plans' tests: Stripe on the local fake, plus the routes plan changes call, answered from the fake's subscription
/// store: a subscription update that moves the item to a new price, subscription schedules (create from a
/// subscription, update phases, release) from the fake itself; invoice previews with a proration line here.
/// </summary>
public class PlanChangeSetup : PlansSetup
{
    /// <summary>What the invoice preview answers as the prorated amount (minor units, eur).</summary>
    public const long ProrationAmount = 1234;

    /// <summary>Subscriptions for which Stripe refuses to create a schedule (400), and whose invoice previews fail (500).</summary>
    public ConcurrentDictionary<string, bool> Refusing { get; } = new();

    /// <summary>
    /// Outbox messages are sent only by the tests' own <c>DispatchOutboxAsync</c>: a background dispatcher woken by the
    /// commit could claim a message first, and the test would then look at the fake Stripe before the call reached it.
    /// </summary>
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Outbox:DispatcherEnabled"] = "false";
    }

    public override async ValueTask StartAsync()
    {
        await base.StartAsync();
        var stripe = Stripe;
        // Schedules, subscription updates and invoices are the fake's own (faithful) routes; a refusing subscription's schedule creation fails.
        stripe.On("POST", "/v1/subscription_schedules", r => Refusing.ContainsKey(r.Form.GetValueOrDefault("from_subscription") ?? "")
            ? StripeAnswer.Error(400, "invalid_request_error", "The subscription cannot be migrated to a schedule.")
            : stripe.CreateSchedule(r));
        stripe.On("POST", "/v1/invoices/create_preview", r => Refusing.ContainsKey(r.Form.GetValueOrDefault("subscription") ?? "")
            ? StripeAnswer.Error(500, "api_error", "Something went wrong on Stripe's end.")
            : StripeAnswer.Ok(new Dictionary<string, object?>
        {
            ["object"] = "invoice", ["currency"] = "eur", ["customer"] = r.Form.GetValueOrDefault("customer"), ["amount_due"] = ProrationAmount + 4900,
            ["lines"] = new Dictionary<string, object?>
            {
                ["object"] = "list", ["has_more"] = false,
                ["data"] = new List<object?>
                {
                    Line("il_proration", ProrationAmount, proration: true),
                    Line("il_next_period", 4900, proration: false),
                },
            },
        }));
    }

    private static Dictionary<string, object?> Line(string id, long amount, bool proration) => new()
    {
        ["id"] = id, ["object"] = "line_item", ["amount"] = amount, ["currency"] = "eur",
        ["parent"] = new Dictionary<string, object?>
        {
            ["type"] = "subscription_item_details",
            ["subscription_item_details"] = new Dictionary<string, object?> { ["proration"] = proration, ["subscription_item"] = "si_x" },
        },
    };
}

/// <summary>The same, with <c>Billing:DowngradePolicy=refuse</c>.</summary>
public sealed class RefusingPlanChangeSetup : PlanChangeSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Billing:DowngradePolicy"] = "refuse";
    }
}

/// <param name="Pro">The plan the organization is on (price <c>price_{Pro}</c>).</param>
/// <param name="Basic">A smaller plan: meetings 2, members 1, storage 1000 bytes.</param>
/// <param name="Max">A bigger plan: everything unlimited.</param>
/// <param name="RowVersion">The local subscription's <c>updated_at</c> as planted (the plan change's idempotency keys carry it).</param>
public sealed record PlanArrangement(TestTenant Tenant, string SubscriptionRowId, string StripeSubscriptionId, string Pro, string Basic, string Max,
    string OwnerEmail, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, DateTimeOffset RowVersion)
{
    public string OrganizationId => Tenant.OrganizationId;
}

public static class PlanChangeKit
{
    /// <summary>An organization (admin key, one owner with an email) subscribed at Stripe and locally to a fresh "pro" plan.</summary>
    public static async Task<PlanArrangement> ArrangeSubscribedAsync(this BackstopFactory app, StripeTestServer stripe)
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var (pro, basic, max) = ("pro-" + tag, "basic-" + tag, "max-" + tag);
        await app.PlantPlanAsync(pro, new Dictionary<string, long> { ["meetings_per_month"] = 100, ["team_members"] = 10, ["storage_bytes"] = 1_000_000 }, "price_" + pro);
        await app.PlantPlanAsync(basic, new Dictionary<string, long> { ["meetings_per_month"] = 2, ["team_members"] = 1, ["storage_bytes"] = 1000 }, "price_" + basic);
        await app.PlantPlanAsync(max, new Dictionary<string, long> { ["meetings_per_month"] = -1, ["team_members"] = -1, ["storage_bytes"] = -1 }, "price_" + max);
        var tenant = await app.CreateTenantAsync("admin");
        var owner = $"owner-{tag}@example.com";
        await app.AddPlanMemberAsync(tenant.OrganizationId, owner, "owner");
        var stripeId = "sub_" + tag;
        var rowId = await app.PlantSubscriptionAsync(tenant.OrganizationId, pro, "active", stripeId);
        var now = app.Time.GetUtcNow();
        await using (var connection = await app.OpenAsync())
            await connection.ExecuteAsync("update subscriptions set provider_price_id = @price where id = @rowId", new { price = "price_" + pro, rowId });
        stripe.PlantSubscription(stripeId, "cus_" + tag, "price_" + pro, "active", now.AddDays(-1), now.AddDays(29));
        return new PlanArrangement(tenant, rowId, stripeId, pro, basic, max, owner, now.AddDays(-1), now.AddDays(29), now);
    }

    public static async Task AddPlanMemberAsync(this BackstopFactory app, string organizationId, string email, string role = "member")
    {
        var response = await app.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/members", new { email, role });
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Adding a member answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>A meeting created at <paramref name="createdAt"/>, holding <paramref name="audioBytes"/> of stored audio when given.</summary>
    public static async Task InsertMeetingAsync(this BackstopFactory app, string organizationId, DateTimeOffset createdAt, long? audioBytes = null)
    {
        await using var connection = await app.OpenAsync();
        var id = Ids.New(app.Time);
        await connection.ExecuteAsync(
            """
            insert into meetings (id, organization_id, title, meeting_url, normalized_url, status, audio_key, audio_size, audio_content_type, created_at, updated_at)
            values (@id, @organizationId, 'Planning', @url, @url, 'done', @audioKey, @audioBytes, @contentType, @createdAt, @createdAt)
            """,
            new
            {
                id, organizationId, url = "https://zoom.us/j/" + id, audioKey = audioBytes is null ? null : $"meetings/{id}/audio.mp3", audioBytes,
                contentType = audioBytes is null ? null : "audio/mpeg", createdAt,
            });
    }

    /// <summary>Stripe's <c>customer.subscription.updated</c> for a subscription whose item now has <paramref name="priceId"/> over [start, end).</summary>
    public static Dictionary<string, object?> SubscriptionObject(string subscriptionId, string priceId, DateTimeOffset start, DateTimeOffset end) => new()
    {
        ["id"] = subscriptionId, ["object"] = "subscription", ["status"] = "active", ["cancel_at_period_end"] = false,
        ["items"] = new Dictionary<string, object?>
        {
            ["object"] = "list",
            ["data"] = new List<object?>
            {
                new Dictionary<string, object?>
                {
                    ["id"] = "si_" + subscriptionId, ["object"] = "subscription_item",
                    ["price"] = new Dictionary<string, object?> { ["id"] = priceId, ["object"] = "price" },
                    ["current_period_start"] = start.ToUnixTimeSeconds(), ["current_period_end"] = end.ToUnixTimeSeconds(),
                },
            },
        },
    };
}
