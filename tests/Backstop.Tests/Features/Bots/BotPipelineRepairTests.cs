using Backstop.Features.Bots;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Bots;

/// <summary>The <c>bot-pipeline-repair</c> sweep: every stuck state of the pipeline has a clock and a way out.</summary>
public abstract class BotPipelineRepairTests(BackstopFactory app) : AppTest(app)
{
    private Task<JobRun> RepairAsync() => App.Service<JobRunner>().RunAsync(BotPipelineRepairJob.Id, CancellationToken.None);

    private async Task<(string Status, string? FailureReason, string? AudioKey)> RowAsync(string meetingId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string, string?, string?)>(
            "select status, failure_reason, audio_key from meetings where id = @meetingId", new { meetingId });
    }

    private Task<long> RepairAuditsAsync(string meetingId, string kind) =>
        App.CountAsync("select count(*) from audit_log where action = 'meeting.repair' and target_id = @meetingId and changes like @kind",
            new { meetingId, kind = $"%\"{kind}\"%" });

    private int RecallGets(string botId) =>
        App.Recall().Requests.Count(e => e.RequestMessage.Method == "GET" && e.RequestMessage.Path == $"/api/v1/bot/{botId}/");

    /// <summary>Lets the outbox retry the meeting's pipeline messages until it gives up on them (or sends them).</summary>
    private async Task OutboxGivesUpAsync(string meetingId)
    {
        for (var i = 0; i < 12 && await App.CountAsync(
                 "select count(*) from outbox_messages where reference = @meetingId and channel = 'bots' and status in ('pending', 'sending')", new { meetingId }) > 0; i++)
        {
            App.Time.Advance(TimeSpan.FromHours(2));
            await App.DispatchAsync();
        }
        (await App.CountAsync("select count(*) from outbox_messages where reference = @meetingId and channel = 'bots' and status in ('pending', 'sending')", new { meetingId }))
            .ShouldBe(0);
    }

    [Fact]
    public async Task A_meeting_processing_for_over_an_hour_is_fetched_again_and_moves_on_as_the_webhook_would_have()
    {
        var tenant = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var (id, botId) = (meeting.GetProperty("id").GetString()!, meeting.GetProperty("botId").GetString()!);
        var t = App.Time.GetUtcNow();
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "joining_call", t.AddMinutes(-20)));
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "call_ended", t));
        // Recall finished the bot, but its done webhook never reached us.
        App.Recall().SetStatus(botId, "call_ended");
        App.Recall().SetStatus(botId, "done");

        App.Time.Advance(TimeSpan.FromMinutes(59));
        await RepairAsync();
        (await RowAsync(id)).Status.ShouldBe("processing");
        RecallGets(botId).ShouldBe(0);

        App.Time.Advance(TimeSpan.FromMinutes(2));
        var run = await RepairAsync();
        run.Outcome.ShouldBe(JobRunner.Succeeded);
        (await RowAsync(id)).Status.ShouldBe("done");
        RecallGets(botId).ShouldBe(1);
        (await RepairAuditsAsync(id, BotPipelineRepairJob.Refetched)).ShouldBe(1);
        (await App.CountAsync("select count(*) from meeting_bot_events where bot_id = @botId and code = 'done'", new { botId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @key", new { key = $"bots:fetch_recording:{botId}" })).ShouldBe(1);

        // The recording is then copied and transcribed as after a done webhook.
        await App.DispatchAsync();
        (await RowAsync(id)).Status.ShouldBe("transcribing");
        (await RowAsync(id)).AudioKey.ShouldNotBeNull();
        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_meeting_repairs_total{kind=\"processing_refetched\"}");
        metrics.ShouldContain("backstop_meetings_by_status{status=\"transcription_failed\"}");
    }

    [Fact]
    public async Task A_bot_still_processing_at_Recall_is_asked_again_only_an_hour_later()
    {
        var client = App.Client(await App.CreateTenantAsync());
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var (id, botId) = (meeting.GetProperty("id").GetString()!, meeting.GetProperty("botId").GetString()!);
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "call_ended", App.Time.GetUtcNow()));
        App.Recall().SetStatus(botId, "call_ended");

        App.Time.Advance(TimeSpan.FromMinutes(61));
        await RepairAsync();
        (await RowAsync(id)).Status.ShouldBe("processing");
        RecallGets(botId).ShouldBe(1);
        App.Time.Advance(TimeSpan.FromMinutes(30));
        await RepairAsync();
        RecallGets(botId).ShouldBe(1);
        App.Time.Advance(TimeSpan.FromMinutes(31));
        await RepairAsync();
        RecallGets(botId).ShouldBe(2);
    }

    [Fact]
    public async Task A_done_meeting_without_audio_fails_recording_unavailable_after_three_fetch_attempts()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Unavailable);
        await OutboxGivesUpAsync(r.MeetingId);
        (await RowAsync(r.MeetingId)).ShouldBe(("done", null, null));

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            App.Time.Advance(TimeSpan.FromMinutes(61));
            await RepairAsync();
            (await RowAsync(r.MeetingId)).Status.ShouldBe("done");
            (await App.CountAsync("select attempts from meeting_repairs where meeting_id = @MeetingId and kind = 'fetch'", r)).ShouldBe(attempt);
        }
        // Within the hour nothing is tried.
        App.Time.Advance(TimeSpan.FromMinutes(20));
        await RepairAsync();
        (await App.CountAsync("select attempts from meeting_repairs where meeting_id = @MeetingId and kind = 'fetch'", r)).ShouldBe(2);

        App.Time.Advance(TimeSpan.FromMinutes(41));
        await RepairAsync();
        (await RowAsync(r.MeetingId)).ShouldBe(("failed", "recording_unavailable", null));
        (await RepairAuditsAsync(r.MeetingId, BotPipelineRepairJob.RecordingUnavailable)).ShouldBe(1);
        (await RepairAuditsAsync(r.MeetingId, BotPipelineRepairJob.FetchRequested)).ShouldBe(2);

        // Failed, the meeting may record again.
        (await r.Client.PostAsync($"/v1/meetings/{r.MeetingId}/bot", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_done_meeting_whose_recording_became_available_is_fetched_by_the_repair()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Unavailable);
        await OutboxGivesUpAsync(r.MeetingId);
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Normal);

        App.Time.Advance(TimeSpan.FromMinutes(61));
        await RepairAsync();
        (await App.CountAsync("select count(*) from outbox_messages where idempotency_key = @key and status = 'pending'",
            new { key = $"bots:fetch_recording:{r.BotId}:repair:1" })).ShouldBe(1);
        await App.DispatchAsync();
        var row = await RowAsync(r.MeetingId);
        row.Status.ShouldBe("transcribing");
        row.AudioKey.ShouldBe($"meetings/{r.MeetingId}/{r.BotId}.mp3");
    }

    [Fact]
    public async Task A_transcription_without_callback_is_requested_again_once_then_fails_and_the_meeting_may_record_again()
    {
        var r = await App.DoneMeetingAsync();
        var (firstCallback, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await r.StatusAsync()).ShouldBe("transcribing");
        int DeepgramRequests() => App.Deepgram().Requests.Count(e => e.RequestMessage.Query!.TryGetValue("extra", out var extra) && extra.ToString().EndsWith(transcriptionId, StringComparison.Ordinal));
        DeepgramRequests().ShouldBe(1);

        App.Time.Advance(TimeSpan.FromMinutes(59));
        await RepairAsync();
        DeepgramRequests().ShouldBe(1);

        App.Time.Advance(TimeSpan.FromMinutes(2));
        await RepairAsync();
        (await RepairAuditsAsync(r.MeetingId, BotPipelineRepairJob.TranscriptionRequested)).ShouldBe(1);
        await App.DispatchAsync();
        DeepgramRequests().ShouldBe(2);
        var second = App.Deepgram().Requests.Last(e => e.RequestMessage.Query!.TryGetValue("extra", out var extra) && extra.ToString().EndsWith(transcriptionId, StringComparison.Ordinal));
        var secondCallback = second.RequestMessage.Query!["callback"].ToString();
        secondCallback.ShouldNotBe(firstCallback);
        // The first token was replaced: a late callback with it is refused and changes nothing.
        var late = await App.CreateClient().PostAsync(new Uri(firstCallback).PathAndQuery,
            new ByteArrayContent(PipelineKit.SmallCallback("req_late", transcriptionId)) { Headers = { ContentType = new("application/json") } });
        late.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await r.StatusAsync()).ShouldBe("transcribing");

        App.Time.Advance(TimeSpan.FromMinutes(61));
        await RepairAsync();
        (await r.StatusAsync()).ShouldBe("transcription_failed");
        (await RepairAuditsAsync(r.MeetingId, BotPipelineRepairJob.TranscriptionFailed)).ShouldBe(1);
        (await App.CountAsync("select count(*) from transcriptions where meeting_id = @MeetingId and status = 'failed' and error = 'callback_timeout'", r)).ShouldBe(1);
        App.Time.Advance(TimeSpan.FromMinutes(61));
        await RepairAsync();
        await App.DispatchAsync();
        DeepgramRequests().ShouldBe(2);

        // transcription_failed: a bot may start again.
        (await r.Client.PostAsync($"/v1/meetings/{r.MeetingId}/bot", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_transcript_is_requested_again_by_the_API_and_its_callback_replaces_the_transcript()
    {
        var r = await App.DoneMeetingAsync();
        var (callback, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callback, PipelineKit.SmallCallback("req_first", transcriptionId))).ShouldAllBe(s => s == 200);
        (await r.StatusAsync()).ShouldBe("transcribed");

        var requested = await r.Client.PostAsync($"/v1/meetings/{r.MeetingId}/transcript", null);
        requested.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await requested.JsonAsync()).GetProperty("status").GetString().ShouldBe("transcribing");
        // A second request while it is transcribing: 409.
        await (await r.Client.PostAsync($"/v1/meetings/{r.MeetingId}/transcript", null)).ShouldBeProblemAsync(409, "transcription_not_allowed");
        (await App.CountAsync("select count(*) from audit_log where action = 'meeting.transcribe' and target_id = @MeetingId", r)).ShouldBe(1);

        await App.DispatchAsync();
        var again = App.Deepgram().Requests.Last(e => e.RequestMessage.Query!.TryGetValue("extra", out var extra) && extra.ToString().EndsWith(transcriptionId, StringComparison.Ordinal));
        var body = DeepgramFake.Callback("req_second", transcriptionId, TimeSpan.FromSeconds(40), seed: 7);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), again.RequestMessage.Query!["callback"].ToString(), body.Body)).ShouldAllBe(s => s == 200);
        (await r.StatusAsync()).ShouldBe("transcribed");
        var transcript = await (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).JsonAsync();
        transcript.GetProperty("requestId").GetString().ShouldBe("req_second");
        transcript.GetProperty("words").GetArrayLength().ShouldBe(body.Words);
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", r)).ShouldBe(1);
    }

    [Fact]
    public async Task The_transcript_request_is_409_without_a_recording_and_404_for_another_organization()
    {
        var client = App.Client(await App.CreateTenantAsync());
        var id = (await client.CreateMeetingAsync()).GetProperty("id").GetString()!;
        await (await client.PostAsync($"/v1/meetings/{id}/transcript", null)).ShouldBeProblemAsync(409, "transcription_not_allowed");

        var r = await App.DoneMeetingAsync();
        await App.DispatchAsync();
        var other = App.Client(await App.CreateTenantAsync());
        await (await other.PostAsync($"/v1/meetings/{r.MeetingId}/transcript", null)).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await other.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await other.GetAsync($"/v1/meetings/{r.MeetingId}/audio")).ShouldBeProblemAsync(404, "meeting_not_found");
        (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/audio")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}

public sealed class BotPipelineRepairTestsOnSqlite(SqliteApp<BotsSetup> app) : BotPipelineRepairTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class BotPipelineRepairTestsOnPostgres(PostgresApp<BotsSetup> app) : BotPipelineRepairTests(app), IClassFixture<PostgresApp<BotsSetup>>;
