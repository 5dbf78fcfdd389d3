namespace Backstop.Tests.Features.Bots;

/// <summary>The <c>meeting.*</c> outbound events, written in the transaction of each change with the meeting as the API shows it.</summary>
public abstract class MeetingEventsTests(BackstopFactory app) : AppTest(app)
{
    private async Task<List<(string Type, JsonElement Data)>> EventsAsync(string organizationId, string meetingId)
    {
        await using var connection = await App.OpenAsync();
        var rows = await connection.QueryAsync<(string Type, string Data)>(
            "select type, data from events where organization_id = @organizationId order by sequence", new { organizationId });
        return rows.Select(r => (r.Type, JsonDocument.Parse(r.Data).RootElement.Clone()))
            .Where(e => e.Item2.GetProperty("id").GetString() == meetingId).ToList();
    }

    [Fact]
    public async Task A_meetings_life_announces_created_bot_moves_recording_ready_transcribed_and_deleted()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callbackUrl, PipelineKit.SmallCallback("req_events", transcriptionId))).ShouldBe([200]);
        (await r.Client.DeleteAsync($"/v1/meetings/{r.MeetingId}")).StatusCode.ShouldBe(System.Net.HttpStatusCode.NoContent);

        var events = await EventsAsync(r.OrganizationId, r.MeetingId);
        events.Select(e => e.Type).ShouldBe([
            "meeting.created", "meeting.bot_status_changed", "meeting.bot_status_changed", "meeting.bot_status_changed",
            "meeting.recording_ready", "meeting.transcribed", "meeting.deleted",
        ]);
        events.Select(e => e.Data.GetProperty("status").GetString()).ShouldBe(["joining", "recording", "processing", "done", "transcribing", "transcribed", "transcribed"]);
        events[4].Data.GetProperty("audio").GetProperty("size").GetInt64().ShouldBe(RecallFake.AudioBytes.Length);
        events[3].Data.GetProperty("statusHistory").GetArrayLength().ShouldBe(3);
    }

    [Fact]
    public async Task A_fatal_bot_announces_meeting_failed_with_its_reason_once_and_a_redelivery_adds_nothing()
    {
        var tenant = await App.CreateTenantAsync();
        var meeting = await App.Client(tenant).CreateMeetingAsync(startBot: true);
        var (id, botId) = (meeting.GetProperty("id").GetString()!, meeting.GetProperty("botId").GetString()!);
        var fatal = RecallWebhooks.StatusBody(botId, "fatal", App.Time.GetUtcNow(), "meeting_not_found");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), fatal);
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), fatal);

        var events = await EventsAsync(tenant.OrganizationId, id);
        events.Select(e => e.Type).ShouldBe(["meeting.created", "meeting.failed"]);
        events[1].Data.GetProperty("failureReason").GetString().ShouldBe("meeting_not_found");
    }
}

public sealed class MeetingEventsTestsOnSqlite(SqliteApp<BotsSetup> app) : MeetingEventsTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class MeetingEventsTestsOnPostgres(PostgresApp<BotsSetup> app) : MeetingEventsTests(app), IClassFixture<PostgresApp<BotsSetup>>;
