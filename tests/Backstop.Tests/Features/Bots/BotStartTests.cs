using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Tests.Features.Bots;

public abstract class BotStartTests(BackstopFactory app) : AppTest(app)
{
    private RecallFake Recall => App.Recall();

    [Fact]
    public async Task Fifty_concurrent_starts_make_exactly_one_bot()
    {
        var client = await App.TenantClientAsync();
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;

        using var gate = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 50).Select(async _ =>
        {
            await gate.WaitAsync();
            return await client.PostAsync($"/v1/meetings/{id}/bot", null);
        }).ToList();
        gate.Release(50);
        var responses = await Task.WhenAll(tasks);

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        var conflicts = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        conflicts.Count.ShouldBe(49);
        foreach (var conflict in conflicts)
            (await conflict.ShouldBeProblemAsync(409, "bot_already_active")).GetProperty("meetingId").GetString().ShouldBe(id);

        Recall.CreateCalls(id).Count.ShouldBe(1);
        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("joining");
        meeting.GetProperty("botId").GetString().ShouldBe(RecallFake.BotIdOf(Recall.CreateCalls(id)[0]));
    }

    [Fact]
    public async Task The_create_call_carries_the_key_the_idempotency_key_and_the_meeting_id()
    {
        var client = await App.TenantClientAsync();
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        (await client.PostAsync($"/v1/meetings/{id}/bot", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var call = Recall.CreateCalls(id).ShouldHaveSingleItem().RequestMessage;
        call.Headers!["Authorization"].ToString().ShouldBe("Token " + RecallFake.ApiKey);
        var key = call.Headers["Idempotency-Key"].ToString();
        key.ShouldStartWith($"bot-start:{id}:");
        var body = JsonDocument.Parse(call.Body!).RootElement;
        body.GetProperty("metadata").GetProperty("backstop_meeting_id").GetString().ShouldBe(id);
        key.ShouldBe($"bot-start:{id}:" + body.GetProperty("metadata").GetProperty("backstop_claim").GetString());
        body.GetProperty("meeting_url").GetString().ShouldNotBeNullOrEmpty();
        body.GetProperty("recording_config").TryGetProperty("audio_mixed_mp3", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Twenty_concurrent_creations_with_startBot_on_one_url_make_one_bot()
    {
        var client = await App.TenantClientAsync();
        var url = BotsKit.NewZoomUrl();
        using var gate = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 20).Select(async i =>
        {
            await gate.WaitAsync();
            // The same meeting, written a little differently by each client.
            var variant = i % 2 == 0 ? url : url.Replace("https://us02web.zoom.us", "HTTPS://US02WEB.ZOOM.US") + "&utm_source=calendar";
            return await client.PostJsonAsync("/v1/meetings", new { title = "Standup", meetingUrl = variant, startBot = true });
        }).ToList();
        gate.Release(20);
        var responses = await Task.WhenAll(tasks);

        var winner = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ShouldHaveSingleItem();
        var winnerId = (await winner.JsonAsync()).GetProperty("id").GetString()!;
        var losers = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        losers.Count.ShouldBe(19);
        foreach (var loser in losers)
        {
            var problem = await loser.ShouldBeProblemAsync(409, "meeting_url_in_use");
            problem.GetProperty("detail").GetString().ShouldBe("This meeting URL is already being recorded in another session.");
            problem.GetProperty("meetingId").GetString().ShouldBe(winnerId);
        }
        Recall.Requests.Count(e => e.RequestMessage.Path == "/api/v1/bot/" && (e.RequestMessage.Body ?? "").Contains(url.Split("pwd=")[1])).ShouldBe(1);
        (await App.CountAsync("select count(*) from meetings where meeting_url like @u", new { u = "%" + url.Split("pwd=")[1] + "%" })).ShouldBe(1);
    }

    [Fact]
    public async Task Two_organizations_with_one_url_get_two_bots()
    {
        var url = BotsKit.NewZoomUrl();
        var first = await (await App.TenantClientAsync()).CreateMeetingAsync(url, startBot: true);
        var second = await (await App.TenantClientAsync()).CreateMeetingAsync(url, startBot: true);
        first.GetProperty("botId").GetString().ShouldNotBe(second.GetProperty("botId").GetString());
        Recall.CreateCalls(url.Split("pwd=")[1]).Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_second_meeting_on_a_url_being_recorded_cannot_start_its_bot()
    {
        var client = await App.TenantClientAsync();
        var url = BotsKit.NewZoomUrl();
        var recording = (await client.CreateMeetingAsync(url, startBot: true)).GetProperty("id").GetString()!;
        // Scheduling a second meeting on the URL is fine; recording it twice is not.
        var second = (await client.CreateMeetingAsync(url)).GetProperty("id").GetString()!;
        var problem = await (await client.PostAsync($"/v1/meetings/{second}/bot", null)).ShouldBeProblemAsync(409, "meeting_url_in_use");
        problem.GetProperty("meetingId").GetString().ShouldBe(recording);
        (await (await client.GetAsync($"/v1/meetings/{second}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("scheduled");
        Recall.CreateCalls(second).Count.ShouldBe(0);
    }

    [Theory]
    [InlineData("recall-500", 502, "bot_provider_error", null)]
    [InlineData("recall-507", 503, "bot_provider_unavailable", "17")]
    [InlineData("recall-429", 503, "bot_provider_unavailable", "9")]
    [InlineData("recall-timeout", 502, "bot_provider_error", null)]
    public async Task A_refused_or_unreachable_provider_leaves_no_meeting(string marker, int status, string code, string? retryAfter)
    {
        var client = await App.TenantClientAsync();
        var url = BotsKit.NewZoomUrl(marker);
        var response = await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = url, startBot = true });
        await response.ShouldBeProblemAsync(status, code);
        (response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)).ShouldBe(retryAfter);
        (await Recall.CreateCallsEventuallyAsync(url.Split("pwd=")[1], 1)).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from meetings where meeting_url = @url", new { url })).ShouldBe(0);

        // The URL is free again: nothing was left holding it.
        var retry = await client.CreateMeetingAsync(url.Replace(marker, "ok"), startBot: true);
        retry.GetProperty("status").GetString().ShouldBe("joining");
    }

    [Fact]
    public async Task A_refused_start_of_an_existing_meeting_puts_it_back()
    {
        var client = await App.TenantClientAsync();
        var id = (await client.CreateMeetingAsync(BotsKit.NewZoomUrl("recall-500"))).GetProperty("id").GetString()!;
        await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(502, "bot_provider_error");
        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("scheduled");
        meeting.GetProperty("botId").ValueKind.ShouldBe(JsonValueKind.Null);
        (await App.CountAsync("select count(*) from meetings where id = @id and bot_claim is null", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task A_bot_whose_id_cannot_be_recorded_is_sent_away()
    {
        var client = await App.TenantClientAsync();
        await InjectRecordFailureAsync();
        var url = BotsKit.NewZoomUrl("inject-fail");
        var response = await client.PostJsonAsync("/v1/meetings", new { title = "x", meetingUrl = url, startBot = true });
        await response.ShouldBeProblemAsync(503, "bot_start_failed");
        var botId = RecallFake.BotIdOf(Recall.CreateCalls(url.Split("pwd=")[1]).ShouldHaveSingleItem());
        (await App.CountAsync("select count(*) from meetings where meeting_url = @url", new { url })).ShouldBe(0);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'pending'", new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);

        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'sent'", new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);

        // The same on an existing meeting: it goes back to scheduled.
        var id = (await client.CreateMeetingAsync(BotsKit.NewZoomUrl("inject-fail"))).GetProperty("id").GetString()!;
        await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(503, "bot_start_failed");
        var second = RecallFake.BotIdOf(Recall.CreateCalls(id).ShouldHaveSingleItem());
        (await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("scheduled");
        await App.DispatchAsync();
        Recall.LeaveCalls(second).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Stopping_sends_the_bot_away_once()
    {
        var client = await App.TenantClientAsync();
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var id = meeting.GetProperty("id").GetString()!;
        var botId = meeting.GetProperty("botId").GetString()!;

        var stop = await client.DeleteAsync($"/v1/meetings/{id}/bot");
        stop.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        // Not joined yet: nothing was recorded, the meeting is cancelled.
        (await stop.JsonAsync()).GetProperty("status").GetString().ShouldBe("cancelled");
        (await client.DeleteAsync($"/v1/meetings/{id}/bot")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(1);

        // Cancelled is final for that bot: a new one may start.
        (await client.PostAsync($"/v1/meetings/{id}/bot", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var idle = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        await (await client.DeleteAsync($"/v1/meetings/{idle}/bot")).ShouldBeProblemAsync(409, "no_active_bot");
    }

    [Fact]
    public async Task A_scheduled_join_time_is_passed_to_recall()
    {
        var client = await App.TenantClientAsync();
        var url = BotsKit.NewZoomUrl();
        var response = await client.PostJsonAsync("/v1/meetings", new { title = "Later", meetingUrl = url, startBot = true, joinAt = "2026-11-24T09:30:00Z" });
        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await response.JsonAsync()).GetProperty("joinAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(2026, 11, 24, 9, 30, 0, TimeSpan.Zero));
        var body = JsonDocument.Parse(Recall.CreateCalls(url.Split("pwd=")[1]).ShouldHaveSingleItem().RequestMessage.Body!).RootElement;
        body.GetProperty("join_at").GetString().ShouldBe("2026-11-24T09:30:00.000Z");
        body.GetProperty("meeting_url").GetString().ShouldBe(url);
    }

    [Fact]
    public async Task Stopping_a_bot_in_the_call_keeps_the_recording_going_to_done()
    {
        var client = await App.TenantClientAsync();
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var id = meeting.GetProperty("id").GetString()!;
        var botId = meeting.GetProperty("botId").GetString()!;
        var t0 = new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero);
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "in_call_recording", t0));

        var stop = await client.DeleteAsync($"/v1/meetings/{id}/bot");
        stop.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await stop.JsonAsync()).GetProperty("status").GetString().ShouldBe("recording");
        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(1);

        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "call_ended", t0.AddMinutes(5), "bot_received_leave_call"));
        var ended = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        ended.GetProperty("status").GetString().ShouldBe("processing");
        ended.GetProperty("botSubCode").GetString().ShouldBe("bot_received_leave_call");
        // Still holding the meeting: a new start waits for the recording to be processed.
        await (await client.PostAsync($"/v1/meetings/{id}/bot", null)).ShouldBeProblemAsync(409, "bot_already_active");
    }

    [Fact]
    public async Task Deleting_a_meeting_stops_its_bot()
    {
        var client = await App.TenantClientAsync();
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var id = meeting.GetProperty("id").GetString()!;
        (await client.DeleteAsync($"/v1/meetings/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await App.DispatchAsync();
        Recall.LeaveCalls(meeting.GetProperty("botId").GetString()!).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from meetings where id = @id and status = 'cancelled' and deleted_at is not null", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task Leave_call_for_a_completed_bot_counts_as_sent()
    {
        var botId = "bot_completed_" + Guid.NewGuid().ToString("N");
        await App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t, OutboxRecall.LeaveCall(botId), CancellationToken.None));
        await App.DispatchAsync();
        Recall.LeaveCalls(botId).Count.ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key like @k and status = 'sent' and attempts = 1", new { k = "recall:stop:" + botId + ":%" })).ShouldBe(1);
    }

    /// <summary>A real database failure, not a test seam: a trigger that refuses to record a bot id on meetings whose URL says so.</summary>
    private async Task InjectRecordFailureAsync()
    {
        await using var connection = await App.OpenAsync();
        if (App.DatabaseKind == "sqlite")
        {
            await connection.ExecuteAsync(
                """
                create trigger if not exists fail_bot_record before update of bot_id on meetings
                when new.bot_id is not null and new.meeting_url like '%inject-fail%'
                begin select raise(abort, 'injected failure'); end;
                """);
        }
        else
        {
            await connection.ExecuteAsync(
                """
                create or replace function fail_bot_record() returns trigger language plpgsql as $$
                begin
                    if new.bot_id is not null and new.meeting_url like '%inject-fail%' then raise exception 'injected failure'; end if;
                    return new;
                end $$;
                drop trigger if exists fail_bot_record on meetings;
                create trigger fail_bot_record before update on meetings for each row execute function fail_bot_record();
                """);
        }
    }
}

public sealed class BotStartTestsOnSqlite(SqliteApp<BotsSetup> app) : BotStartTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class BotStartTestsOnPostgres(PostgresApp<BotsSetup> app) : BotStartTests(app), IClassFixture<PostgresApp<BotsSetup>>;
