using Backstop.Tests.Features.Bots;

namespace Backstop.Tests.Features.Quota;

/// <summary>Backstop's own slices metered: meetings (Bots) and members (ApiKeys).</summary>
public abstract class QuotaWiringTests(BackstopFactory app) : AppTest(app)
{
    private const string Used = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = @metric";

    [Fact]
    public async Task Twenty_concurrent_meeting_creations_at_two_of_five_make_exactly_three_meetings()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 5 });
        await client.CreateMeetingAsync();
        await client.CreateMeetingAsync();

        var responses = await QuotaKit.ConcurrentlyAsync(20, _ => App.Client(tenant).PostJsonAsync("/v1/meetings",
            new { title = "Standup", meetingUrl = BotsKit.NewZoomUrl() }));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(3);
        foreach (var r in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            (await r.ShouldBeProblemAsync(403, "quota_exceeded")).GetProperty("limit").GetInt64().ShouldBe(5);
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(5);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId, metric = "meetings_per_month" })).ShouldBe(5);
    }

    [Fact]
    public async Task A_meeting_creation_whose_bot_start_fails_leaves_the_counter_where_it_was()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 5 });
        await client.CreateMeetingAsync();

        var response = await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = BotsKit.NewZoomUrl("recall-500"), startBot = true });

        await response.ShouldBeProblemAsync(502, "bot_provider_error");
        (await App.CountAsync("select count(*) from meetings where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId, metric = "meetings_per_month" })).ShouldBe(1);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(1);
        (await client.UsageAsync("meetings_per_month")).GetProperty("used").GetInt64().ShouldBe(1);

        // A started bot keeps its meeting and its count.
        await client.CreateMeetingAsync(BotsKit.NewZoomUrl("ok"), startBot: true);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId, metric = "meetings_per_month" })).ShouldBe(2);
    }

    [Fact]
    public async Task Twenty_concurrent_member_adds_at_one_below_the_limit_admit_exactly_one()
    {
        var (tenant, _) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["team_members"] = 3 });
        var admin = App.AdminClient();
        for (var i = 0; i < 2; i++)
            (await admin.PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members", new { email = $"first{i}@example.com", role = "member" }))
                .StatusCode.ShouldBe(HttpStatusCode.Created);

        var responses = await QuotaKit.ConcurrentlyAsync(20, i => App.AdminClient().PostJsonAsync(
            $"/v1/admin/organizations/{tenant.OrganizationId}/members", new { email = $"racer{i}@example.com", role = "member" }));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        foreach (var r in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            var problem = await r.ShouldBeProblemAsync(403, "quota_exceeded");
            problem.GetProperty("limit").GetInt64().ShouldBe(3);
        }
        (await App.CountAsync("select count(*) from organization_members where organization_id = @org and deleted_at is null",
            new { org = tenant.OrganizationId })).ShouldBe(3);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId, metric = "team_members" })).ShouldBe(3);
    }

    [Fact]
    public async Task A_past_due_organization_cannot_add_members()
    {
        var (tenant, _) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["team_members"] = 3 }, status: "past_due");
        await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/members", new { email = "late@example.com", role = "member" }))
            .ShouldBeProblemAsync(402, "payment_past_due");
        (await App.CountAsync("select count(*) from organization_members where organization_id = @org", new { org = tenant.OrganizationId })).ShouldBe(0);
    }
}

public sealed class QuotaWiringTestsOnSqlite(SqliteApp<BotsSetup> app) : QuotaWiringTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class QuotaWiringTestsOnPostgres(PostgresApp<BotsSetup> app) : QuotaWiringTests(app), IClassFixture<PostgresApp<BotsSetup>>;
