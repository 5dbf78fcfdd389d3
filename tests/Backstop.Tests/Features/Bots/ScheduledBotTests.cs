using System.Net.Http.Json;

namespace Backstop.Tests.Features.Bots;

/// <summary>Scheduled bots (<c>joinAt</c>): cancelled before dispatch, told to leave (again) after, moved, and every stop sent.</summary>
public abstract class ScheduledBotTests(BackstopFactory app) : AppTest(app)
{
    private RecallFake Recall => App.Recall();

    private async Task<(HttpClient Client, string MeetingId, string BotId)> ScheduledAsync(TimeSpan ahead)
    {
        var client = await App.TenantClientAsync();
        var response = await client.PostJsonAsync("/v1/meetings",
            new { title = "Board", meetingUrl = BotsKit.NewZoomUrl(), startBot = true, joinAt = App.Time.GetUtcNow().Add(ahead) });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var meeting = await response.JsonAsync();
        return (client, meeting.GetProperty("id").GetString()!, meeting.GetProperty("botId").GetString()!);
    }

    /// <summary>The pending send-aways of a bot are due now (the test does not wait out their backoff).</summary>
    private async Task<DateTimeOffset> MakeStopDueAsync(string botId)
    {
        await using var connection = await App.OpenAsync();
        var next = await connection.QuerySingleAsync<DateTimeOffset>(
            "select next_attempt_at from outbox_messages where idempotency_key like @k and status = 'pending'", new { k = "recall:stop:" + botId + ":%" });
        await connection.ExecuteAsync("update outbox_messages set next_attempt_at = @now where idempotency_key like @k and status = 'pending'",
            new { now = App.Time.GetUtcNow().AddSeconds(-1), k = "recall:stop:" + botId + ":%" });
        return next;
    }

    [Fact]
    public async Task A_scheduled_meeting_stopped_before_its_time_deletes_the_bot_which_never_joins()
    {
        var (client, id, botId) = await ScheduledAsync(TimeSpan.FromHours(5));
        Recall.BotState(botId).Status.ShouldBe("ready");

        var stop = await client.DeleteAsync($"/v1/meetings/{id}/bot");
        stop.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await stop.JsonAsync()).GetProperty("status").GetString().ShouldBe("cancelled");
        await App.DispatchAsync();

        Recall.Deletes(botId).Count.ShouldBe(1);
        Recall.Exists(botId).ShouldBeFalse();
        Recall.LeaveCalls(botId).Count.ShouldBe(0);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'sent'", new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);
    }

    [Fact]
    public async Task A_stop_after_dispatch_tells_the_bot_to_leave_again_with_backoff_until_it_has_joined()
    {
        var (client, id, botId) = await ScheduledAsync(TimeSpan.FromMinutes(30));
        Recall.Dispatch(botId);

        (await client.DeleteAsync($"/v1/meetings/{id}/bot")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await App.DispatchAsync();
        Recall.Deletes(botId).Count.ShouldBe(1);    // 405: dispatched
        Recall.LeaveCalls(botId).Count.ShouldBe(1); // 400 cannot_command_unstarted_bot: not success
        (await MakeStopDueAsync(botId)).ShouldBeGreaterThanOrEqualTo(App.Time.GetUtcNow().AddSeconds(30));

        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(2); // still in the lobby
        var second = await MakeStopDueAsync(botId);
        second.ShouldBeGreaterThan(App.Time.GetUtcNow());

        Recall.SetStatus(botId, "in_call_recording");
        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(3);
        Recall.BotState(botId).Status.ShouldBe("done");
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'sent' and attempts = 3",
            new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);
    }

    [Fact]
    public async Task Every_request_to_send_a_bot_away_is_sent_even_when_an_earlier_one_exists()
    {
        // A bot that no meeting owns, reported twice: each delivery sends it away (the first may have been obeyed before it joined).
        var stranger = "bot_stranger_" + Guid.NewGuid().ToString("N");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(stranger, "joining_call", PipelineKit.T0));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(stranger, "in_call_recording", PipelineKit.T0.AddMinutes(1)));
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k", new { k = "recall:stop:" + stranger + ":%" })).ShouldBe(2);

        // A meeting stopped, then deleted: both requests are in the outbox.
        var (client, id, botId) = await ScheduledAsync(TimeSpan.FromHours(2));
        Recall.Dispatch(botId);
        (await client.DeleteAsync($"/v1/meetings/{id}/bot")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await client.DeleteAsync($"/v1/meetings/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k", new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where target_id = @id and action in ('meeting.create', 'bot.start', 'bot.stop', 'meeting.delete')", new { id })).ShouldBe(4);
    }

    [Fact]
    public async Task JoinAt_moves_while_the_bot_is_not_dispatched_and_then_answers_409()
    {
        var (client, id, botId) = await ScheduledAsync(TimeSpan.FromHours(3));
        var later = App.Time.GetUtcNow().AddHours(6);
        var moved = await client.PatchAsJsonAsync($"/v1/meetings/{id}", new { joinAt = later });
        moved.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await moved.JsonAsync()).GetProperty("joinAt").GetDateTimeOffset().ShouldBe(later);
        Recall.Patches(botId).Count.ShouldBe(1);
        DateTimeOffset.Parse(Recall.BotState(botId).JoinAt!, System.Globalization.CultureInfo.InvariantCulture).ShouldBe(later, TimeSpan.FromMilliseconds(1));

        Recall.Dispatch(botId);
        await (await client.PatchAsJsonAsync($"/v1/meetings/{id}", new { joinAt = later.AddHours(1) })).ShouldBeProblemAsync(409, "bot_already_dispatched");
        (await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync()).GetProperty("joinAt").GetDateTimeOffset().ShouldBe(later);

        // A meeting without a bot just takes the new time.
        var plain = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        (await client.PatchAsJsonAsync($"/v1/meetings/{plain}", new { joinAt = later })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from audit_log where target_id = @id and action = 'meeting.update'", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task A_joinAt_in_the_past_is_refused()
    {
        var client = await App.TenantClientAsync();
        var url = BotsKit.NewZoomUrl();
        await (await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = url, startBot = true, joinAt = App.Time.GetUtcNow().AddMinutes(-5) }))
            .ShouldBeProblemAsync(400, "join_at_in_past");
        Recall.CreateCalls(url.Split("pwd=")[1]).Count.ShouldBe(0);
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        await (await client.PatchAsJsonAsync($"/v1/meetings/{id}", new { joinAt = App.Time.GetUtcNow().AddMinutes(-5) })).ShouldBeProblemAsync(400, "join_at_in_past");
    }
}

public sealed class ScheduledBotTestsOnSqlite(SqliteApp<BotsSetup> app) : ScheduledBotTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class ScheduledBotTestsOnPostgres(PostgresApp<BotsSetup> app) : ScheduledBotTests(app), IClassFixture<PostgresApp<BotsSetup>>;
