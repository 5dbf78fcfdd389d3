using System.Net.Http.Json;
using Backstop.Infrastructure.Outbox;

namespace Backstop.Tests.Features.Billing;

public abstract class OrganizationDeletionTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Deleting_an_organization_cancels_its_Stripe_subscription_at_once_and_its_pending_messages()
    {
        var plan = BillingKit.NewCode();
        var price = BillingKit.NewPrice();
        await App.CreatePlanAsync(plan, price);
        var tenant = await App.CreateTenantAsync("admin");
        var org = tenant.OrganizationId;
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.PlantSubscriptionAsync(org, plan, "active", sub);
        var now = App.Time.GetUtcNow();
        App.Stripe().PlantSubscription(sub, "cus_" + org[..8], price, "active", now.AddDays(-1), now.AddDays(29));

        // Pending when the organization goes: a cancel-at-period-end not yet sent and an email to its owners.
        (await App.Client(tenant).DeleteAsync("/v1/billing/subscription")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await using (var connection = await App.OpenAsync())
        await using (var tx = await Db.BeginAsync(connection))
        {
            await App.Service<IOutbox>().EnqueueAsync(connection, tx, Backstop.Infrastructure.Outbox.Email.OutboxEmail.Create($"dunning-test:{org}", "owner@example.com",
                new Backstop.Infrastructure.Outbox.Email.EmailContent("Payment failed", "Please pay", "<p>Please pay</p>")) with { OrganizationId = org }, CancellationToken.None);
            await tx.CommitAsync();
        }

        const string CanceledEvents = "select count(*) from events where organization_id = @org and type = 'subscription.canceled'";
        var canceledBefore = await App.CountAsync(CanceledEvents, new { org });
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.CountAsync("select count(*) from outbox_messages where organization_id = @org and status = 'pending'", new { org })).ShouldBe(0);
        (await App.CountAsync("select count(*) from outbox_messages where organization_id = @org and status = 'dead' and last_error like 'cancelled:%'", new { org })).ShouldBe(2);
        (await App.LocalSubscriptionAsync(org))!.Status.ShouldBe("canceled");
        // The cancellation's outbound event, written in the deletion's transaction.
        (await App.CountAsync(CanceledEvents, new { org })).ShouldBe(canceledBefore + 1);
        // The operator sees the deletion's progress: nothing of its billing can charge it any more.
        var progress = (await App.AdminClient().GetFromJsonAsync<JsonElement>($"/v1/admin/organizations/{org}")).GetProperty("deletion").GetProperty("remaining");
        progress.GetProperty("live_subscriptions").GetInt64().ShouldBe(0);
        progress.GetProperty("open_checkout_sessions").GetInt64().ShouldBe(0);

        await App.DispatchOutboxAsync();
        var cancel = App.Stripe().Received("DELETE", $"/v1/subscriptions/{sub}").ShouldHaveSingleItem();
        cancel.IdempotencyKey.ShouldBe($"delete-org-cancel:{sub}");
        App.Stripe().Received("POST", $"/v1/subscriptions/{sub}").ShouldBeEmpty();
        App.Stripe().Subscriptions[sub]["status"].ShouldBe("canceled");
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @key and status = 'sent'", new { key = $"delete-org-cancel:{sub}" })).ShouldBe(1);
    }

    [Fact]
    public async Task Deleting_an_organization_without_a_live_subscription_calls_Stripe_for_nothing()
    {
        var plan = BillingKit.NewCode();
        await App.CreatePlanAsync(plan, BillingKit.NewPrice());
        var org = (await App.CreateOrganizationAsync()).Id;
        var sub = $"sub_{Guid.NewGuid():N}"[..24];
        await App.PlantSubscriptionAsync(org, plan, "canceled", sub);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @key", new { key = $"delete-org-cancel:{sub}" })).ShouldBe(0);
    }

    [Fact]
    public async Task Without_a_Paddle_API_key_the_deletion_completes_and_the_Paddle_cancellation_waits_visibly_and_alerted()
    {
        // This app has no Paddle:ApiKey.
        var (org, _, sub) = await App.OrganizationWithPaddleSubscriptionAsync(paddle: null);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.LocalSubscriptionAsync(org))!.Status.ShouldBe("canceled");
        (await App.OutboxCountAsync(sub, "pending")).ShouldBe(1);
        // The operator is alerted at once, in the deletion's transaction.
        (await App.CountAsync(
            "select count(*) from outbox_messages where channel = 'email' and idempotency_key = @key",
            new { key = $"paddle-not-configured:{sub}:{BillingSetup.AlertEmail}" })).ShouldBe(1);

        // Retried, never given up (the channel mutates provider state), visible in the outbox with its error.
        for (var i = 0; i < 12; i++)
        {
            await App.DispatchOutboxAsync();
            App.Time.Advance(TimeSpan.FromHours(2));
        }
        (await App.OutboxCountAsync(sub, "pending")).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @key and last_error like '%Paddle:ApiKey is not set%'",
            new { key = $"paddle-delete-org-cancel:{sub}" })).ShouldBe(1);
        // Waiting is not refused: the deletion's progress counts only what the operator must act on.
        (await App.DeletionRemainingAsync(org)).GetProperty("refused_provider_cancellations").GetInt64().ShouldBe(0);
        // Failing for more than an hour: alerted once more, once.
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'email' and idempotency_key like 'paddle-call-stuck:%' and reference = @sub",
            new { sub })).ShouldBe(1);
    }
}

public sealed class OrganizationDeletionTestsOnSqlite(SqliteApp<BillingSetup> app) : OrganizationDeletionTests(app), IClassFixture<SqliteApp<BillingSetup>>;

public sealed class OrganizationDeletionTestsOnPostgres(PostgresApp<BillingSetup> app) : OrganizationDeletionTests(app), IClassFixture<PostgresApp<BillingSetup>>;
