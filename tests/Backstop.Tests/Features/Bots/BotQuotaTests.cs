using Backstop.Tests.Features.Quota;

namespace Backstop.Tests.Features.Bots;

/// <summary>Every bot start counts towards <c>meetings_per_month</c>, and the storage gate is asked before one starts.</summary>
public abstract class BotQuotaTests(BackstopFactory app) : AppTest(app)
{
    private const string Used = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = 'meetings_per_month'";

    [Fact]
    public async Task Twenty_concurrent_restarts_of_one_meeting_start_one_bot_and_count_one_meeting()
    {
        // Limit 2: the meeting's creation counts one, the restart the other.
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 2 });
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(1);

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.PostAsync($"/v1/meetings/{id}/bot", null))));
        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        answers.Count(a => a.StatusCode == HttpStatusCode.Conflict).ShouldBe(19);
        App.Recall().CreateCalls(id).Count.ShouldBe(1);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(2);
        (await App.CountAsync("select count(*) from meeting_bot_starts where meeting_id = @id", new { id })).ShouldBe(1);

        // The bot stopped, a third start is over the limit: refused before Recall is called.
        (await client.DeleteAsync($"/v1/meetings/{id}/bot")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(403, "quota_exceeded");
        App.Recall().CreateCalls(id).Count.ShouldBe(1);
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(2);
    }

    [Fact]
    public async Task A_restart_the_provider_refuses_gives_its_meeting_back()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 5 });
        var id = (await client.CreateMeetingAsync(BotsKit.NewZoomUrl("recall-500"))).GetProperty("id").GetString()!;
        await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(502, "bot_provider_error");
        (await App.CountAsync(Used, new { org = tenant.OrganizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from meeting_bot_starts where meeting_id = @id", new { id })).ShouldBe(0);
    }

    [Fact]
    public async Task A_blocking_storage_violation_refuses_a_bot_start_with_403_plan_violation()
    {
        var (tenant, client) = await App.TenantOnPlanAsync(new Dictionary<string, long> { ["meetings_per_month"] = 50 });
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        await using (var connection = await App.OpenAsync())
        {
            var detected = App.Time.GetUtcNow().AddDays(-40);
            await connection.ExecuteAsync(
                """
                insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, detected_at, created_at, updated_at)
                values (@id, @org, 'storage_bytes', 'free', 5000, 1000, 'read_only', 'Your recordings use 5000 bytes but the plan allows 1000', @detected, @detected, @detected)
                """, new { id = Guid.NewGuid().ToString(), org = tenant.OrganizationId, detected });
        }
        var refused = await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(403, "plan_violation");
        refused.GetProperty("metric").GetString().ShouldBe("storage_bytes");
        App.Recall().CreateCalls(id).Count.ShouldBe(0);
        await (await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = BotsKit.NewZoomUrl(), startBot = true }))
            .ShouldBeProblemAsync(403, "plan_violation");
    }

    [Fact]
    public async Task A_blocking_storage_violation_fails_the_recording_instead_of_storing_it()
    {
        var r = await App.DoneMeetingAsync();
        await using (var connection = await App.OpenAsync())
        {
            var detected = App.Time.GetUtcNow().AddDays(-40);
            await connection.ExecuteAsync(
                """
                insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, detected_at, created_at, updated_at)
                values (@id, @org, 'storage_bytes', 'free', 5000, 1000, 'read_only', 'Your recordings use 5000 bytes but the plan allows 1000', @detected, @detected, @detected)
                """, new { id = Guid.NewGuid().ToString(), org = r.OrganizationId, detected });
        }

        await App.DispatchAsync();

        await using (var connection = await App.OpenAsync())
        {
            var row = await connection.QuerySingleAsync<(string Status, string? FailureReason, string? AudioKey)>(
                "select status, failure_reason, audio_key from meetings where id = @MeetingId", r);
            row.ShouldBe(("failed", "storage_refused", null));
            (await connection.ExecuteScalarAsync<long>("select count(*) from transcriptions where meeting_id = @MeetingId", r)).ShouldBe(0);
            (await connection.ExecuteScalarAsync<long>("select coalesce(sum(used), 0) from usage_counters where organization_id = @OrganizationId and metric = 'storage_bytes'", r)).ShouldBe(0);
        }
        var folder = Path.Combine(App.SetupAs<BotsSetup>().FilesPath, "meetings", r.MeetingId);
        (Directory.Exists(folder) && Directory.EnumerateFiles(folder).Any()).ShouldBeFalse();
    }
}

public sealed class BotQuotaTestsOnSqlite(
SqliteApp<BotsSetup> app) : BotQuotaTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class BotQuotaTestsOnPostgres(PostgresApp<BotsSetup> app) : BotQuotaTests(app), IClassFixture<PostgresApp<BotsSetup>>;
