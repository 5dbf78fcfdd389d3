namespace Backstop.Tests.Features.Bots;

/// <summary>
/// <c>bot_minutes</c>: from <c>joining_call</c> to the bot's end, per Recall's billing rule, recorded once per bot
/// (whole minutes, rounded up) in the webhook's transaction.
/// </summary>
public abstract class BotMinutesTests(BackstopFactory app) : AppTest(app)
{
    private static readonly DateTimeOffset T = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private const string Minutes = "select coalesce(sum(used), 0) from usage_counters where organization_id = @org and metric = 'bot_minutes'";

    private async Task<(string OrganizationId, string BotId)> BotAsync()
    {
        var tenant = await App.CreateTenantAsync();
        var meeting = await App.Client(tenant).CreateMeetingAsync(startBot: true);
        return (tenant.OrganizationId, meeting.GetProperty("botId").GetString()!);
    }

    private Task DeliverAsync(string botId, string code, DateTimeOffset at, string? subCode = null) =>
        App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, code, at, subCode));

    [Fact]
    public async Task A_bot_in_its_call_for_30_minutes_30_seconds_counts_31_minutes_once_even_when_the_end_is_delivered_twice()
    {
        var (org, botId) = await BotAsync();
        await DeliverAsync(botId, "joining_call", T);
        await DeliverAsync(botId, "in_waiting_room", T.AddSeconds(5));
        await DeliverAsync(botId, "in_call_recording", T.AddMinutes(2));
        (await App.CountAsync(Minutes, new { org })).ShouldBe(0);

        var ended = RecallWebhooks.StatusBody(botId, "call_ended", T.AddMinutes(30).AddSeconds(30), "bot_received_leave_call");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), ended);
        (await App.CountAsync(Minutes, new { org })).ShouldBe(31);

        // Recall delivers again (a new delivery of the same event), then done and a late fatal: nothing more is counted.
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), ended);
        await DeliverAsync(botId, "done", T.AddMinutes(31));
        await DeliverAsync(botId, "fatal", T.AddMinutes(40));
        (await App.CountAsync(Minutes, new { org })).ShouldBe(31);
        (await App.CountAsync("select count(*) from usage_idempotency where organization_id = @org and metric = 'bot_minutes'", new { org })).ShouldBe(1);
    }

    [Fact]
    public async Task The_end_delivered_before_the_start_still_counts_from_joining_call()
    {
        var (org, botId) = await BotAsync();
        await DeliverAsync(botId, "call_ended", T.AddMinutes(10).AddSeconds(1));
        (await App.CountAsync(Minutes, new { org })).ShouldBe(0);
        await DeliverAsync(botId, "joining_call", T);
        (await App.CountAsync(Minutes, new { org })).ShouldBe(11);
        await DeliverAsync(botId, "in_call_recording", T.AddMinutes(1));
        (await App.CountAsync(Minutes, new { org })).ShouldBe(11);
    }

    [Fact]
    public async Task A_bot_that_fails_before_joining_counts_nothing()
    {
        var (org, botId) = await BotAsync();
        await DeliverAsync(botId, "fatal", T, "meeting_not_found");
        await DeliverAsync(botId, "done", T.AddMinutes(1));
        (await App.CountAsync(Minutes, new { org })).ShouldBe(0);
        // A waiting room is part of the call: a bot failing there counts (rounded up: 40 s is a minute).
        var (org2, bot2) = await BotAsync();
        await DeliverAsync(bot2, "joining_call", T);
        await DeliverAsync(bot2, "in_waiting_room", T.AddSeconds(10));
        await DeliverAsync(bot2, "fatal", T.AddSeconds(40), "timeout_exceeded_waiting_room");
        (await App.CountAsync(Minutes, new { org = org2 })).ShouldBe(1);
    }

    [Fact]
    public async Task A_blocking_bot_minutes_violation_refuses_new_bots()
    {
        var tenant = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        await using (var connection = await App.OpenAsync())
        {
            var detected = App.Time.GetUtcNow().AddDays(-40);
            await connection.ExecuteAsync(
                """
                insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, detected_at, created_at, updated_at)
                values (@id, @org, 'bot_minutes', 'free', 700, 600, 'read_only', 'Your bots used 700 minutes but the plan allows 600', @detected, @detected, @detected)
                """, new { id = Guid.NewGuid().ToString(), org = tenant.OrganizationId, detected });
        }
        var refused = await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(403, "plan_violation");
        refused.GetProperty("metric").GetString().ShouldBe("bot_minutes");
        await (await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = BotsKit.NewZoomUrl(), startBot = true }))
            .ShouldBeProblemAsync(403, "plan_violation");
        App.Recall().CreateCalls(id).Count.ShouldBe(0);
        // A meeting without a bot is still created (it records nothing).
        (await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = BotsKit.NewZoomUrl() })).StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
    }
}

public sealed class BotMinutesTestsOnSqlite(SqliteApp<BotsSetup> app) : BotMinutesTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class BotMinutesTestsOnPostgres(PostgresApp<BotsSetup> app) : BotMinutesTests(app), IClassFixture<PostgresApp<BotsSetup>>;
