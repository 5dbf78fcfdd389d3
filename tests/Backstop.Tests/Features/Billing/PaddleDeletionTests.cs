using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.Billing;

/// <summary>Billing's setup with Paddle's API on the local fake (<c>Paddle:ApiKey</c>, <c>Paddle:BaseUrl</c>).</summary>
public sealed class PaddleBillingSetup : BillingSetup
{
    public PaddleTestServer Paddle { get; private set; } = null!;

    public override async ValueTask StartAsync()
    {
        Paddle = await PaddleTestServer.StartAsync();
        await base.StartAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await http.GetAsync(Paddle.BaseUrl + "/warm-up");
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Paddle:ApiKey"] = PaddleTestServer.ApiKey;
        settings["Paddle:BaseUrl"] = Paddle.BaseUrl;
    }

    public override void ConfigureServices(IServiceCollection services)
    {
        base.ConfigureServices(services);
        if (services.LastOrDefault(d => d.ServiceType == typeof(TimeProvider))?.ImplementationInstance is TimeProvider time)
            Paddle.Clock = time.GetUtcNow;
    }

    public override async ValueTask DisposeAsync()
    {
        await Paddle.DisposeAsync();
        await base.DisposeAsync();
    }
}

internal static class PaddleDeletionKit
{
    /// <summary>An organization with a live Paddle subscription, here and at the fake; answers (organization, local id, Paddle id).</summary>
    public static async Task<(string Org, string LocalId, string Sub)> OrganizationWithPaddleSubscriptionAsync(this BackstopFactory app, PaddleTestServer? paddle)
    {
        var plan = BillingKit.NewCode();
        await app.CreatePlanAsync(plan, paddlePriceId: "pri_" + Guid.NewGuid().ToString("N")[..20]);
        var org = (await app.CreateOrganizationAsync()).Id;
        var sub = "sub_01" + Guid.NewGuid().ToString("N")[..20];
        var localId = await app.PlantSubscriptionAsync(org, plan, "active", sub, provider: "paddle");
        paddle?.PlantSubscription(sub);
        return (org, localId, sub);
    }

    public static async Task<JsonElement> DeletionRemainingAsync(this BackstopFactory app, string org) =>
        (await app.AdminClient().GetFromJsonAsync<JsonElement>($"/v1/admin/organizations/{org}")).GetProperty("deletion").GetProperty("remaining");

    public static Task<long> OutboxCountAsync(this BackstopFactory app, string sub, string status) =>
        app.CountAsync("select count(*) from outbox_messages where channel = 'paddle' and idempotency_key = @key and status = @status",
            new { key = $"paddle-delete-org-cancel:{sub}", status });
}

public abstract class PaddleDeletionTests(BackstopFactory app) : AppTest(app)
{
    private PaddleTestServer Paddle => App.SetupAs<PaddleBillingSetup>().Paddle;

    [Fact]
    public async Task Deleting_an_organization_cancels_its_Paddle_subscription_immediately_exactly_once_through_a_500_and_repeated_dispatches()
    {
        var (org, localId, sub) = await App.OrganizationWithPaddleSubscriptionAsync(Paddle);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        // In the deletion's transaction: the local row ends, the cancellation is stored, the audit row is written (same request).
        (await App.LocalSubscriptionAsync(org))!.Status.ShouldBe("canceled");
        (await App.OutboxCountAsync(sub, "pending")).ShouldBe(1);
        await using (var connection = await App.OpenAsync())
        {
            var audit = (await connection.QueryAsync<(string Action, string? RequestId, string? Changes)>(
                "select action, request_id, changes from audit_log where organization_id = @org and action in ('organization.delete', 'subscription.cancel')", new { org })).ToList();
            var cancel = audit.Where(a => a.Action == "subscription.cancel").ShouldHaveSingleItem();
            cancel.RequestId.ShouldNotBeNull();
            cancel.RequestId.ShouldBe(audit.Single(a => a.Action == "organization.delete").RequestId);
            cancel.Changes!.ShouldContain("\"paddle\"");
            cancel.Changes!.ShouldContain(sub);
            (await connection.ExecuteScalarAsync<long>("select count(*) from audit_log where target_id = @localId and action = 'subscription.cancel'", new { localId })).ShouldBe(1);
        }
        (await App.DeletionRemainingAsync(org)).GetProperty("refused_provider_cancellations").GetInt64().ShouldBe(0);

        // Paddle fails the first attempt: nothing applied there, the message waits for its retry.
        Paddle.FailNext(500, sub);
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).Select(r => r.Status).ShouldBe([500]);
        (await App.OutboxCountAsync(sub, "pending")).ShouldBe(1);
        Paddle.Subscriptions[sub].Status.ShouldBe("active");

        // Two dispatches at once after the backoff, then another: one more call, which cancels.
        App.Time.Advance(TimeSpan.FromMinutes(2));
        await Task.WhenAll(App.DispatchOutboxAsync(), App.DispatchOutboxAsync());
        await App.DispatchOutboxAsync();
        var cancels = Paddle.CancelsOf(sub);
        cancels.Select(r => r.Status).ShouldBe([500, 200]);
        cancels.ShouldAllBe(r => r.Authorization == "Bearer " + PaddleTestServer.ApiKey);
        JsonDocument.Parse(cancels[1].Body).RootElement.GetProperty("effective_from").GetString().ShouldBe("immediately");
        Paddle.Subscriptions[sub].Status.ShouldBe("canceled");
        Paddle.Subscriptions[sub].ScheduledCancelAt.ShouldBeNull();
        (await App.OutboxCountAsync(sub, "sent")).ShouldBe(1);
        (await App.DeletionRemainingAsync(org)).GetProperty("refused_provider_cancellations").GetInt64().ShouldBe(0);

        // Deleting again finds nothing to do and sends nothing more.
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        App.Time.Advance(TimeSpan.FromHours(2));
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_subscription_Paddle_had_already_canceled_counts_as_done()
    {
        var (org, _, sub) = await App.OrganizationWithPaddleSubscriptionAsync(Paddle);
        // Canceled in Paddle's dashboard; the event has not arrived yet.
        Paddle.PlantSubscription(sub, status: "canceled");
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await App.DispatchOutboxAsync();
        var cancel = Paddle.CancelsOf(sub).ShouldHaveSingleItem();
        cancel.Status.ShouldBe(400);
        (await App.OutboxCountAsync(sub, "sent")).ShouldBe(1);
        // Nothing to alert about.
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'email' and reference = @sub", new { sub })).ShouldBe(0);
        (await App.DeletionRemainingAsync(org)).GetProperty("refused_provider_cancellations").GetInt64().ShouldBe(0);
        App.Time.Advance(TimeSpan.FromHours(2));
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_429_is_retried_after_its_Retry_After()
    {
        var (org, _, sub) = await App.OrganizationWithPaddleSubscriptionAsync(Paddle);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        Paddle.FailNext(429, sub);
        await App.DispatchOutboxAsync();
        (await App.OutboxCountAsync(sub, "pending")).ShouldBe(1);
        var nextAttempt = await App.CountAsync(
            "select count(*) from outbox_messages where idempotency_key = @key and next_attempt_at >= @earliest",
            new { key = $"paddle-delete-org-cancel:{sub}", earliest = App.Time.GetUtcNow().AddSeconds(7) });
        nextAttempt.ShouldBe(1);
        App.Time.Advance(TimeSpan.FromMinutes(2));
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).Select(r => r.Status).ShouldBe([429, 200]);
        (await App.OutboxCountAsync(sub, "sent")).ShouldBe(1);
    }

    [Fact]
    public async Task A_cancel_Paddle_refuses_for_good_is_dead_alerted_and_shown_in_the_deletions_progress()
    {
        // Paddle does not know the subscription (another environment's, or deleted there): 404, never retried.
        var (org, _, sub) = await App.OrganizationWithPaddleSubscriptionAsync(paddle: null);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).ShouldHaveSingleItem().Status.ShouldBe(404);
        (await App.OutboxCountAsync(sub, "dead")).ShouldBe(1);
        (await App.CountAsync(
            "select count(*) from outbox_messages where channel = 'email' and reference = @sub and idempotency_key like 'paddle-call-refused:%' and idempotency_key like @to",
            new { sub, to = "%" + BillingSetup.AlertEmail })).ShouldBe(1);
        (await App.DeletionRemainingAsync(org)).GetProperty("refused_provider_cancellations").GetInt64().ShouldBe(1);
        App.Time.Advance(TimeSpan.FromHours(2));
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_Paddle_subscription_event_naming_a_deleted_organization_is_cancelled_at_Paddle()
    {
        var org = (await App.CreateOrganizationAsync()).Id;
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        var plan = BillingKit.NewCode();
        var price = "pri_" + Guid.NewGuid().ToString("N")[..20];
        await App.CreatePlanAsync(plan, paddlePriceId: price);
        var sub = "sub_01" + Guid.NewGuid().ToString("N")[..20];
        Paddle.PlantSubscription(sub);
        var now = App.Time.GetUtcNow();
        string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        // A checkout opened before the deletion completes after it: its reference names the deleted organization.
        await App.DeliverPaddleAsync("subscription.created", new Dictionary<string, object?>
        {
            ["id"] = sub, ["status"] = "active", ["customer_id"] = "ctm_" + Guid.NewGuid().ToString("N")[..20],
            ["current_billing_period"] = new Dictionary<string, string> { ["starts_at"] = Time(now), ["ends_at"] = Time(now.AddDays(30)) },
            ["items"] = new[] { new Dictionary<string, object?> { ["price"] = new Dictionary<string, object?> { ["id"] = price }, ["quantity"] = 1 } },
            ["custom_data"] = new Dictionary<string, object?> { ["backstop_reference"] = App.PaddleReference(org), ["organization_id"] = org },
        }, now);
        (await App.LocalSubscriptionAsync(org)).ShouldBeNull();
        await App.DispatchOutboxAsync();
        Paddle.CancelsOf(sub).ShouldHaveSingleItem().Status.ShouldBe(200);
        Paddle.Subscriptions[sub].Status.ShouldBe("canceled");
    }
}

public sealed class PaddleDeletionTestsOnSqlite(SqliteApp<PaddleBillingSetup> app) : PaddleDeletionTests(app), IClassFixture<SqliteApp<PaddleBillingSetup>>;

public sealed class PaddleDeletionTestsOnPostgres(PostgresApp<PaddleBillingSetup> app) : PaddleDeletionTests(app), IClassFixture<PostgresApp<PaddleBillingSetup>>;
