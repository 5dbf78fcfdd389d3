namespace Backstop.Tests.Support;

/// <summary>
/// Arrange-only builders for billing state that tests do not want to reach through webhooks: plans and a planted
/// local subscription. Tests of the behaviour itself go through the HTTP API and signed provider events.
/// </summary>
public static class BillingStateKit
{
    /// <summary>A plan with these limits (metric → limit); <paramref name="stripePriceId"/> null makes it free.</summary>
    public static async Task PlantPlanAsync(this BackstopFactory app, string code, IReadOnlyDictionary<string, long> limits,
        string? stripePriceId = null, int trialDays = 0, bool active = true)
    {
        await using var connection = await app.OpenAsync();
        var now = app.Time.GetUtcNow();
        await connection.ExecuteAsync(
            """
            insert into plans (code, name, stripe_price_id, trial_days, limits, active, created_at, updated_at)
            values (@code, @code, @stripePriceId, @trialDays, @limits, @active, @now, @now)
            """,
            new { code, stripePriceId, trialDays, limits = System.Text.Json.JsonSerializer.Serialize(limits), active, now });
    }

    /// <summary>The organization's local subscription in <paramref name="status"/> on <paramref name="planCode"/>, period [now - 1 day, now + 29 days).</summary>
    public static async Task<string> PlantSubscriptionAsync(this BackstopFactory app, string organizationId, string planCode, string status,
        string? providerSubscriptionId = null, DateTimeOffset? graceEndsAt = null, DateTimeOffset? paymentFailedAt = null, int retryCount = 0,
        string provider = "stripe")
    {
        await using var connection = await app.OpenAsync();
        var now = app.Time.GetUtcNow();
        var id = Ids.New(app.Time);
        await connection.ExecuteAsync(
            """
            insert into subscriptions (id, organization_id, plan_code, provider, provider_subscription_id, provider_customer_id, status,
                                       current_period_start, current_period_end, cancel_at_period_end, grace_ends_at, payment_failed_at,
                                       payment_retry_count, provider_updated_at, created_at, updated_at)
            values (@id, @organizationId, @planCode, @provider, @providerSubscriptionId, @customer, @status, @start, @end, @no,
                    @graceEndsAt, @paymentFailedAt, @retryCount, @start, @now, @now)
            """,
            new
            {
                id, organizationId, planCode, provider, providerSubscriptionId = providerSubscriptionId ?? "sub_" + id.Replace("-", ""),
                customer = "cus_" + organizationId.Replace("-", ""), status, start = now.AddDays(-1), end = now.AddDays(29), no = false,
                graceEndsAt, paymentFailedAt, retryCount, now,
            });
        return id;
    }
}
