namespace Backstop.Tests.Features.Billing;

public abstract class AccessTests(BackstopFactory app) : AppTest(app)
{
    private static async Task<JsonElement> AccessAsync(HttpClient client)
    {
        var response = await client.GetAsync("/v1/billing/access");
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return await response.JsonAsync();
    }

    private static string? Str(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();

    [Theory]
    [InlineData("active", "pro", true, true, null)]
    [InlineData("trialing", "pro", true, true, null)]
    [InlineData("past_due", "pro", false, true, "payment_past_due")]
    [InlineData("suspended", "pro", false, false, "subscription_suspended")]
    [InlineData("unpaid", "pro", false, false, "subscription_suspended")]
    [InlineData("paused", "pro", false, false, "subscription_paused")]
    [InlineData("canceled", "free", true, true, null)]
    public async Task Access_follows_the_subscription_state(string status, string plan, bool canCreate, bool canUse, string? refusal)
    {
        var graceEnd = status == "past_due" ? App.Time.GetUtcNow().AddDays(3) : (DateTimeOffset?)null;
        var t = await App.BilledTenantAsync(status, graceEnd);

        var access = await AccessAsync(App.ClientWithKey((await App.CreateApiKeyAsync(t.OrganizationId, "read")).Key));

        access.GetProperty("state").GetString().ShouldBe(status);
        access.GetProperty("plan").GetString().ShouldBe(plan);
        access.GetProperty("canCreate").GetBoolean().ShouldBe(canCreate);
        access.GetProperty("canUse").GetBoolean().ShouldBe(canUse);
        Str(access, "refusalCode").ShouldBe(refusal);
        (Str(access, "refusalDetail") is not null).ShouldBe(refusal is not null);
        access.GetProperty("updatePaymentUrl").GetString().ShouldBe(DunningSetup.UpdatePaymentUrl);
        access.GetProperty("violations").GetArrayLength().ShouldBe(0);
        if (graceEnd is { } end) access.GetProperty("graceEndsAt").GetDateTimeOffset().ShouldBe(end);
        else access.GetProperty("graceEndsAt").ValueKind.ShouldBe(JsonValueKind.Null);

        // The answer is what a gated action does.
        var created = await App.Client(t.Tenant).CreateMeetingAsync();
        if (canCreate) created.StatusCode.ShouldBe(HttpStatusCode.Created);
        else await created.ShouldBeProblemAsync(402, refusal!);
    }

    [Fact]
    public async Task Without_a_subscription_the_default_plan_allows_everything()
    {
        var tenant = await App.CreateTenantAsync("read");
        var access = await AccessAsync(App.Client(tenant));
        access.GetProperty("state").GetString().ShouldBe("none");
        access.GetProperty("plan").GetString().ShouldBe("free");
        access.GetProperty("canCreate").GetBoolean().ShouldBeTrue();
        access.GetProperty("canUse").GetBoolean().ShouldBeTrue();
        Str(access, "refusalCode").ShouldBeNull();
        (await App.CreateClient().GetAsync("/v1/billing/access")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Through_a_whole_dunning_cycle_access_is_past_due_then_suspended_at_the_grace_end_then_active()
    {
        var t = await App.BilledTenantAsync();
        var client = App.Client(t.Tenant);
        var invoice = DunningKit.NewInvoiceId();
        await App.DeliverStripeAsync("invoice.payment_failed", DunningKit.Invoice(t, invoice, attempt: 1));
        var graceEnd = App.Time.GetUtcNow().AddDays(7);

        var pastDue = await AccessAsync(client);
        pastDue.GetProperty("state").GetString().ShouldBe("past_due");
        pastDue.GetProperty("canCreate").GetBoolean().ShouldBeFalse();
        pastDue.GetProperty("canUse").GetBoolean().ShouldBeTrue();
        pastDue.GetProperty("graceEndsAt").GetDateTimeOffset().ShouldBe(graceEnd);

        // At the grace end the gate refuses everything at once, before the hourly job has recorded the suspension.
        App.Time.Advance(TimeSpan.FromDays(7));
        var ended = await AccessAsync(client);
        ended.GetProperty("state").GetString().ShouldBe("past_due");
        ended.GetProperty("canUse").GetBoolean().ShouldBeFalse();
        Str(ended, "refusalCode").ShouldBe("subscription_suspended");
        await (await client.CreateMeetingAsync()).ShouldBeProblemAsync(402, "subscription_suspended");

        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(Backstop.Features.Billing.Dunning.GraceExpiryJob.Id, CancellationToken.None);
        (await AccessAsync(client)).GetProperty("state").GetString().ShouldBe("suspended");

        await App.DeliverStripeAsync("invoice.paid", DunningKit.Invoice(t, invoice, attempt: 2));
        var active = await AccessAsync(client);
        active.GetProperty("state").GetString().ShouldBe("active");
        active.GetProperty("canCreate").GetBoolean().ShouldBeTrue();
        active.GetProperty("graceEndsAt").ValueKind.ShouldBe(JsonValueKind.Null);
    }
}

public sealed class AccessTestsOnSqlite(SqliteApp<DunningSetup> app) : AccessTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class AccessTestsOnPostgres(PostgresApp<DunningSetup> app) : AccessTests(app), IClassFixture<PostgresApp<DunningSetup>>;
