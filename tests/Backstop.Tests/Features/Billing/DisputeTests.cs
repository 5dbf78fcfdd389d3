using System.Net;
using Backstop.Tests.Support;
using Shouldly;

namespace Backstop.Tests.Features.Billing;

public abstract class DisputeTests(BackstopFactory app) : AppTest(app)
{
    private Dictionary<string, object?> Dispute(string id, string status, object charge, long amount = 4900, string reason = "fraudulent") => new()
    {
        ["id"] = id, ["object"] = "dispute", ["amount"] = amount, ["currency"] = "usd", ["charge"] = charge, ["reason"] = reason,
        ["status"] = status, ["created"] = App.Time.GetUtcNow().AddMinutes(-10).ToUnixTimeSeconds(), ["payment_intent"] = "pi_" + id,
    };

    private static Dictionary<string, object?> ExpandedCharge(string customer) => new()
    {
        ["id"] = "ch_" + Guid.NewGuid().ToString("N")[..16], ["object"] = "charge", ["customer"] = customer,
    };

    private static string NewDisputeId() => "dp_" + Guid.NewGuid().ToString("N")[..20];

    private async Task<System.Text.Json.JsonElement> ListAsync(string query)
    {
        var response = await App.AdminClient().GetAsync("/v1/admin/billing/disputes" + query);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.JsonAsync();
    }

    [Fact]
    public async Task A_dispute_is_recorded_for_its_organization_and_alerted_once_to_the_alert_address_and_the_owners()
    {
        var t = await App.BilledTenantAsync();
        var id = NewDisputeId();
        var dispute = Dispute(id, "needs_response", ExpandedCharge(t.CustomerId));
        await App.DeliverStripeAsync("charge.dispute.created", dispute);
        await App.DeliverStripeAsync("charge.dispute.created", dispute);

        var list = await ListAsync($"?organizationId={t.OrganizationId}");
        var item = list.GetProperty("items").EnumerateArray().ShouldHaveSingleItem();
        item.GetProperty("providerDisputeId").GetString().ShouldBe(id);
        item.GetProperty("organizationId").GetString().ShouldBe(t.OrganizationId);
        item.GetProperty("amount").GetInt64().ShouldBe(4900);
        item.GetProperty("currency").GetString().ShouldBe("usd");
        item.GetProperty("reason").GetString().ShouldBe("fraudulent");
        item.GetProperty("status").GetString().ShouldBe("needs_response");
        item.GetProperty("closedAt").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        var alerts = await App.EmailsAsync($"dispute:{id}:created:");
        alerts.Select(a => a.To).ShouldBe([DunningSetup.AlertEmail, .. t.Owners], ignoreOrder: true);
        alerts.ShouldAllBe(a => a.Text.Contains("49.00 USD") && a.Text.Contains(id));
    }

    [Fact]
    public async Task Closing_records_the_outcome_and_alerts_again_and_a_late_opening_event_changes_nothing()
    {
        var t = await App.BilledTenantAsync();
        var id = NewDisputeId();
        var charge = ExpandedCharge(t.CustomerId);
        // Delivered out of order: the closing first.
        App.Time.Advance(TimeSpan.FromDays(20));
        var closedAt = App.Time.GetUtcNow();
        await App.DeliverStripeAsync("charge.dispute.closed", Dispute(id, "lost", charge));
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "needs_response", charge));

        var item = (await ListAsync($"?organizationId={t.OrganizationId}")).GetProperty("items").EnumerateArray().ShouldHaveSingleItem();
        item.GetProperty("status").GetString().ShouldBe("lost");
        item.GetProperty("closedAt").GetDateTimeOffset().ShouldBe(closedAt);
        (await App.EmailsAsync($"dispute:{id}:closed:")).Count.ShouldBe(1 + t.Owners.Count);
        (await App.EmailsAsync($"dispute:{id}:created:")).Count.ShouldBe(1 + t.Owners.Count);
        (await App.EmailsAsync($"dispute:{id}:closed:")).ShouldAllBe(e => e.Subject.Contains("lost"));
        (await ListAsync("?status=lost")).GetProperty("items").EnumerateArray().ShouldContain(i => i.GetProperty("providerDisputeId").GetString() == id);
    }

    [Fact]
    public async Task A_dispute_whose_charge_is_not_expanded_is_recorded_without_organization_and_alerted_to_the_alert_address()
    {
        var id = NewDisputeId();
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "warning_needs_response", "ch_" + Guid.NewGuid().ToString("N")[..16], amount: 5000));

        (await App.CountAsync("select count(*) from billing_disputes where provider_dispute_id = @id and organization_id is null", new { id })).ShouldBe(1);
        (await App.EmailsAsync($"dispute:{id}:")).Select(e => e.To).ShouldBe([DunningSetup.AlertEmail]);
    }

    [Fact]
    public async Task The_admin_list_pages_newest_first_and_is_refused_to_tenant_keys()
    {
        var t = await App.BilledTenantAsync();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var id = NewDisputeId();
            ids.Add(id);
            // Row ids are UUIDv7 of the (fake) clock: a tick apart, so that "newest first" is well defined.
            App.Time.Advance(TimeSpan.FromSeconds(1));
            await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "needs_response", ExpandedCharge(t.CustomerId)));
        }

        var first = await ListAsync($"?organizationId={t.OrganizationId}&limit=2");
        first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("providerDisputeId").GetString()).ShouldBe([ids[2], ids[1]]);
        var cursor = first.GetProperty("nextCursor").GetString().ShouldNotBeNull();
        var second = await ListAsync($"?organizationId={t.OrganizationId}&limit=2&cursor={cursor}");
        second.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("providerDisputeId").GetString()).ShouldBe([ids[0]]);
        second.GetProperty("nextCursor").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        await (await App.Client(t.Tenant).GetAsync("/v1/admin/billing/disputes")).ShouldBeProblemAsync(403, "forbidden");
        await (await App.AdminClient().GetAsync("/v1/admin/billing/disputes?limit=0")).ShouldBeProblemAsync(400, "validation_failed");
    }
}

public sealed class DisputeTestsOnSqlite(SqliteApp<DunningSetup> app) : DisputeTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class DisputeTestsOnPostgres(PostgresApp<DunningSetup> app) : DisputeTests(app), IClassFixture<PostgresApp<DunningSetup>>;
