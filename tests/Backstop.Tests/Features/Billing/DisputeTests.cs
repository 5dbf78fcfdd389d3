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

    private StripeTestServer Stripe => App.SetupAs<DunningSetup>().Stripe;

    private string PlantCharge(string? customer)
    {
        var charge = "ch_" + Guid.NewGuid().ToString("N")[..16];
        Stripe.On("GET", "/v1/charges/" + charge, _ => StripeAnswer.Ok(new Dictionary<string, object?>
        {
            ["id"] = charge, ["object"] = "charge", ["amount"] = 4900, ["currency"] = "usd", ["customer"] = customer,
        }));
        return charge;
    }

    [Fact]
    public async Task A_dispute_whose_charge_is_an_id_alerts_the_alert_address_at_once_and_the_owners_once_the_charge_is_read_from_stripe()
    {
        var t = await App.BilledTenantAsync();
        var id = NewDisputeId();
        var charge = PlantCharge(t.CustomerId);
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "needs_response", charge));
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "needs_response", charge));

        (await App.CountAsync("select count(*) from billing_disputes where provider_dispute_id = @id and organization_id is null", new { id })).ShouldBe(1);
        (await App.EmailsAsync($"dispute:{id}:")).Select(e => e.To).ShouldBe([DunningSetup.AlertEmail]);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'billing-dispute-lookup' and reference = @id", new { id })).ShouldBe(1);

        // The lookup runs outside the inbox's transaction, through the outbox: Stripe is asked once.
        await App.DispatchAsync();
        Stripe.Received("GET", "/v1/charges/" + charge).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from billing_disputes where provider_dispute_id = @id and organization_id = @org",
            new { id, org = t.OrganizationId })).ShouldBe(1);
        (await App.EmailsAsync($"dispute:{id}:created:")).Select(e => e.To).ShouldBe([DunningSetup.AlertEmail, .. t.Owners], ignoreOrder: true);

        // Its closing, still with the charge as an id, reaches the owners at once and asks Stripe nothing more.
        await App.DeliverStripeAsync("charge.dispute.closed", Dispute(id, "won", charge));
        await App.DispatchAsync();
        (await App.EmailsAsync($"dispute:{id}:closed:")).Select(e => e.To).ShouldBe([DunningSetup.AlertEmail, .. t.Owners], ignoreOrder: true);
        Stripe.Received("GET", "/v1/charges/" + charge).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where reference = @id and status <> 'sent'", new { id })).ShouldBe(0);
    }

    [Fact]
    public async Task A_dispute_of_a_charge_that_is_no_organization_s_stays_without_organization_and_alerts_only_the_alert_address()
    {
        var id = NewDisputeId();
        var charge = PlantCharge("cus_someone_else_" + Guid.NewGuid().ToString("N")[..8]);
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "warning_needs_response", charge, amount: 5000));
        await App.DispatchAsync();

        Stripe.Received("GET", "/v1/charges/" + charge).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from billing_disputes where provider_dispute_id = @id and organization_id is null", new { id })).ShouldBe(1);
        (await App.EmailsAsync($"dispute:{id}:")).Select(e => e.To).ShouldBe([DunningSetup.AlertEmail]);
        (await App.CountAsync("select count(*) from outbox_messages where channel = 'billing-dispute-lookup' and reference = @id and status = 'sent'", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task A_late_opening_event_with_the_charge_expanded_gives_a_closed_dispute_its_organization_but_not_its_old_status()
    {
        var t = await App.BilledTenantAsync();
        var id = NewDisputeId();
        await App.DeliverStripeAsync("charge.dispute.closed", Dispute(id, "won", "ch_" + Guid.NewGuid().ToString("N")[..16]));
        await App.DeliverStripeAsync("charge.dispute.created", Dispute(id, "needs_response", ExpandedCharge(t.CustomerId)));

        var item = (await ListAsync($"?organizationId={t.OrganizationId}")).GetProperty("items").EnumerateArray().ShouldHaveSingleItem();
        item.GetProperty("providerDisputeId").GetString().ShouldBe(id);
        item.GetProperty("status").GetString().ShouldBe("won");
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
