namespace Backstop.Tests.Features.Bots;

/// <summary>One file per meeting, and a meeting's files and transcript are its organization's alone.</summary>
public abstract class RecordingFilesTests(BackstopFactory app) : AppTest(app)
{
    /// <summary>The recordings stored for a meeting (the local store keeps each file's content type beside it, in <c>.type</c>).</summary>
    private string[] FilesOf(string meetingId) =>
        Directory.GetFiles(Path.Combine(App.SetupAs<BotsSetup>().FilesPath, "meetings", meetingId)).Where(f => !f.EndsWith(".type", StringComparison.Ordinal)).ToArray();

    [Fact]
    public async Task Recording_a_meeting_twice_leaves_one_file_in_storage_and_counts_its_bytes_once()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callbackUrl, PipelineKit.SmallCallback(Guid.NewGuid().ToString(), transcriptionId))).ShouldBe([200]);
        FilesOf(r.MeetingId).Select(Path.GetFileName).ShouldBe([r.BotId + ".mp3"]);

        // Recorded again: a new bot, done, fetched.
        var restarted = await (await r.Client.PostAsync($"/v1/meetings/{r.MeetingId}/bot", null)).JsonAsync();
        var second = restarted.GetProperty("botId").GetString()!;
        second.ShouldNotBe(r.BotId);
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(second, "done", PipelineKit.T0.AddHours(2)));
        App.Recall().SetStatus(second, "done");
        await App.DispatchAsync();

        FilesOf(r.MeetingId).Select(Path.GetFileName).ShouldBe([second + ".mp3"]);
        (await App.CountAsync("select coalesce(sum(used), 0) from usage_counters where organization_id = @OrganizationId and metric = 'storage_bytes'", r))
            .ShouldBe(RecallFake.AudioBytes.Length);
    }

    [Fact]
    public async Task Another_organizations_transcript_and_audio_are_404()
    {
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callbackUrl, PipelineKit.SmallCallback(Guid.NewGuid().ToString(), transcriptionId))).ShouldBe([200]);
        (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await r.Client.GetAsync($"/v1/meetings/{r.MeetingId}/audio")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var stranger = await App.TenantClientAsync();
        await (await stranger.GetAsync($"/v1/meetings/{r.MeetingId}/transcript")).ShouldBeProblemAsync(404, "meeting_not_found");
        await (await stranger.GetAsync($"/v1/meetings/{r.MeetingId}/audio")).ShouldBeProblemAsync(404, "meeting_not_found");
    }
}

public sealed class RecordingFilesTestsOnSqlite(SqliteApp<BotsSetup> app) : RecordingFilesTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class RecordingFilesTestsOnPostgres(PostgresApp<BotsSetup> app) : RecordingFilesTests(app), IClassFixture<PostgresApp<BotsSetup>>;
