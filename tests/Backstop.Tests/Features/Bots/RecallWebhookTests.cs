namespace Backstop.Tests.Features.Bots;

public abstract class RecallWebhookTests(BackstopFactory app) : AppTest(app)
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 11, 0, 0, TimeSpan.Zero);

    /// <summary>A bot's whole life as Recall reports it, with a code Recall may add one day in the middle.</summary>
    private static List<(string Code, string? SubCode, DateTimeOffset At)> Life() =>
    [
        ("joining_call", null, T0.AddSeconds(1)),
        ("in_waiting_room", null, T0.AddSeconds(5)),
        ("in_call_not_recording", null, T0.AddSeconds(30)),
        ("recording_permission_allowed", null, T0.AddSeconds(31)),
        ("some_future_status", "some_future_sub_code", T0.AddSeconds(32)),
        ("in_call_recording", null, T0.AddSeconds(33)),
        ("call_ended", "bot_received_leave_call", T0.AddMinutes(40)),
        ("done", null, T0.AddMinutes(41)),
    ];

    private async Task<(HttpClient Client, string Id, string BotId)> RecordingMeetingAsync()
    {
        var client = await App.TenantClientAsync();
        var meeting = await client.CreateMeetingAsync(startBot: true);
        return (client, meeting.GetProperty("id").GetString()!, meeting.GetProperty("botId").GetString()!);
    }

    private static string Shape(JsonElement meeting) => JsonSerializer.Serialize(new
    {
        status = meeting.GetProperty("status").GetString(),
        botStatus = meeting.GetProperty("botStatus").GetString(),
        botSubCode = meeting.GetProperty("botSubCode").GetString(),
        transcriptStatus = meeting.GetProperty("transcriptStatus").GetString(),
        history = meeting.GetProperty("statusHistory").EnumerateArray().Select(h => h.GetRawText()).ToList(),
    });

    [Fact]
    public async Task Status_webhooks_in_order_shuffled_or_duplicated_end_in_the_same_state_and_history()
    {
        var life = Life();
        var shapes = new List<string>();
        foreach (var order in new[] { "in-order", "shuffled", "shuffled-and-duplicated" })
        {
            var (client, id, botId) = await RecordingMeetingAsync();
            var deliveries = life.Select(s => (Id: "msg_" + Guid.NewGuid().ToString("N"), Body: RecallWebhooks.StatusBody(botId, s.Code, s.At, s.SubCode))).ToList();
            if (order != "in-order") deliveries = [.. deliveries.OrderBy(_ => Random.Shared.Next())];
            // Twice over: the same message id (Recall's retry) and a fresh one (the same status sent again).
            if (order == "shuffled-and-duplicated")
                deliveries = [.. deliveries, .. deliveries, .. deliveries.Select(d => ("msg_" + Guid.NewGuid().ToString("N"), d.Body)).OrderBy(_ => Random.Shared.Next())];
            foreach (var (messageId, body) in deliveries) await App.DeliverAsync(messageId, body);

            var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
            meeting.GetProperty("status").GetString().ShouldBe("done", order);
            meeting.GetProperty("statusHistory").EnumerateArray().Select(h => h.GetProperty("code").GetString()).ShouldBe(life.Select(s => s.Code), order);
            shapes.Add(Shape(meeting));
            (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @k", new { k = "bots:fetch_recording:" + botId })).ShouldBe(1);
        }
        shapes.Distinct().Count().ShouldBe(1, string.Join(Environment.NewLine, shapes));
    }

    [Fact]
    public async Task A_late_event_moves_nothing_back()
    {
        var (client, id, botId) = await RecordingMeetingAsync();
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", T0.AddSeconds(30)));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "joining_call", T0.AddSeconds(1)));
        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("recording");
        meeting.GetProperty("botStatus").GetString().ShouldBe("in_call_recording");
        meeting.GetProperty("statusHistory").GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task A_fatal_bot_fails_the_meeting_and_frees_its_url()
    {
        var (client, id, botId) = await RecordingMeetingAsync();
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "fatal", T0.AddSeconds(3), "meeting_not_found"));
        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("failed");
        meeting.GetProperty("failureReason").GetString().ShouldBe("meeting_not_found");
        // Failed is final for that bot: the meeting may record again.
        (await client.PostAsync($"/v1/meetings/{id}/bot", null)).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_legacy_status_change_shape_is_understood()
    {
        var (client, id, botId) = await RecordingMeetingAsync();
        var body = JsonSerializer.Serialize(new
        {
            @event = "bot.status_change",
            data = new { bot_id = botId, status = new { code = "in_call_recording", sub_code = (string?)null, created_at = "2026-11-23T11:00:10.000000Z", message = (string?)null } },
        });
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), body);
        (await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("recording");
    }

    [Fact]
    public async Task A_webhook_for_a_bot_nobody_owns_sends_it_away()
    {
        var stranger = "bot_" + Guid.NewGuid().ToString("N");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(stranger, "in_call_recording", T0));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(stranger, "call_ended", T0.AddMinutes(1)));
        await App.DispatchAsync();
        // Each delivery sends it away (an earlier send-away may have come before it joined); the second finds it gone.
        App.Recall().LeaveCalls(stranger).Count.ShouldBe(2);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'sent'", new { k = "recall:stop:" + stranger + ":%" })).ShouldBe(2);

        // Owned no longer: the meeting was deleted.
        var (client, id, botId) = await RecordingMeetingAsync();
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update meetings set deleted_at = created_at where id = @id", new { id });
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", T0));
        await App.DispatchAsync();
        App.Recall().LeaveCalls(botId).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_bot_whose_start_was_interrupted_is_adopted_by_its_claim()
    {
        var client = await App.TenantClientAsync();
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        var claim = Guid.NewGuid().ToString();
        // As a crash between Recall's answer and recording the bot id leaves it.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update meetings set status = 'joining', bot_claim = @claim, bot_previous_status = 'scheduled' where id = @id", new { id, claim });
        var botId = "bot_" + Guid.NewGuid().ToString("N");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"),
            RecallWebhooks.StatusBody(botId, "joining_call", T0, metadata: new Dictionary<string, string> { ["backstop_meeting_id"] = id, ["backstop_claim"] = claim }));
        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("botId").GetString().ShouldBe(botId);
        meeting.GetProperty("status").GetString().ShouldBe("joining");
        meeting.GetProperty("statusHistory").GetArrayLength().ShouldBe(1);
        await App.DispatchAsync();
        App.Recall().LeaveCalls(botId).Count.ShouldBe(0);

        // A claim that is no longer open adopts nothing: that bot is sent away.
        var orphan = "bot_" + Guid.NewGuid().ToString("N");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"),
            RecallWebhooks.StatusBody(orphan, "joining_call", T0, metadata: new Dictionary<string, string> { ["backstop_meeting_id"] = id, ["backstop_claim"] = claim }));
        await App.DispatchAsync();
        App.Recall().LeaveCalls(orphan).Count.ShouldBe(1);
    }
}

public sealed class RecallWebhookTestsOnSqlite(SqliteApp<BotsSetup> app) : RecallWebhookTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class RecallWebhookTestsOnPostgres(PostgresApp<BotsSetup> app) : RecallWebhookTests(app), IClassFixture<PostgresApp<BotsSetup>>;
