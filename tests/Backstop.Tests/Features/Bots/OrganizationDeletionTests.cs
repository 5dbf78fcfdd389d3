using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Storage;

namespace Backstop.Tests.Features.Bots;

/// <summary>Deleting an organization ends its bots at once and, after <c>Cleanup:StorageRetentionDays</c>, its audio and transcripts.</summary>
public abstract class OrganizationDeletionTests(BackstopFactory app) : AppTest(app)
{
    private async Task<JsonElement> DeletionAsync(string organizationId) =>
        (await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{organizationId}")).JsonAsync()).GetProperty("deletion");

    private Task<long> StorageBytesAsync(string organizationId) =>
        App.CountAsync("select coalesce(sum(used), 0) from usage_counters where organization_id = @organizationId and metric = 'storage_bytes'", new { organizationId });

    [Fact]
    public async Task Deleting_an_organization_stops_its_bot_and_its_audio_and_transcripts_go_after_the_retention()
    {
        // A recorded and transcribed meeting, and a second one whose bot is in the call.
        var r = await App.DoneMeetingAsync();
        var (callbackUrl, transcriptionId) = await App.TranscriptionRequestedAsync(r);
        (await DeepgramFake.DeliverCallbackAsync(App.CreateClient(), callbackUrl, PipelineKit.SmallCallback(Guid.NewGuid().ToString(), transcriptionId))).ShouldBe([200]);
        var audioKey = await ScalarAsync("select audio_key from meetings where id = @MeetingId", r);
        (await StorageBytesAsync(r.OrganizationId)).ShouldBe(RecallFake.AudioBytes.Length);
        var live = await r.Client.CreateMeetingAsync(startBot: true);
        var liveBot = live.GetProperty("botId").GetString()!;
        App.Recall().SetStatus(liveBot, "in_call_recording");
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(liveBot, "in_call_recording", PipelineKit.T0.AddHours(1)));
        // Another organization's meeting is not touched.
        var other = await App.DoneMeetingAsync();
        await App.DispatchAsync();

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{r.OrganizationId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await App.CountAsync("select count(*) from meetings where organization_id = @OrganizationId and deleted_at is null", r)).ShouldBe(0);
        (await ScalarAsync("select status from meetings where bot_id = @liveBot", new { liveBot })).ShouldBe("cancelled");
        (await App.CountAsync("select count(*) from meetings where id = @MeetingId and deleted_at is null", other)).ShouldBe(1);
        (await App.CountAsync("select count(*) from audit_log where action = 'meeting.delete' and target_id = @OrganizationId", r)).ShouldBe(1);
        var progress = await DeletionAsync(r.OrganizationId);
        progress.GetProperty("remaining").GetProperty("active_bots").GetInt64().ShouldBe(1);

        await App.DispatchAsync();
        App.Recall().LeaveCalls(liveBot).Count.ShouldBe(1);
        progress = await DeletionAsync(r.OrganizationId);
        progress.GetProperty("complete").GetBoolean().ShouldBeFalse();
        var remaining = progress.GetProperty("remaining");
        remaining.GetProperty("meetings").GetInt64().ShouldBe(0);
        remaining.GetProperty("active_bots").GetInt64().ShouldBe(0);
        remaining.GetProperty("audio_files").GetInt64().ShouldBe(1);
        remaining.GetProperty("transcripts").GetInt64().ShouldBe(1);

        // Within the retention nothing goes.
        App.Time.Advance(TimeSpan.FromDays(29));
        (await App.Service<JobRunner>().RunAsync(StorageCleanupJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await DeletionAsync(r.OrganizationId)).GetProperty("complete").GetBoolean().ShouldBeFalse();
        (await FileExistsAsync(audioKey)).ShouldBeTrue();

        App.Time.Advance(TimeSpan.FromDays(2));
        (await App.Service<JobRunner>().RunAsync(StorageCleanupJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        progress = await DeletionAsync(r.OrganizationId);
        progress.GetProperty("remaining").GetProperty("audio_files").GetInt64().ShouldBe(0);
        progress.GetProperty("remaining").GetProperty("transcripts").GetInt64().ShouldBe(0);
        progress.GetProperty("complete").GetBoolean().ShouldBeTrue();
        (await FileExistsAsync(audioKey)).ShouldBeFalse();
        (await App.CountAsync("select count(*) from transcripts where meeting_id = @MeetingId", r)).ShouldBe(0);
        // The storage sweep gave the bytes back.
        (await StorageBytesAsync(r.OrganizationId)).ShouldBe(0);
        // The other organization keeps its meeting's audio.
        (await App.CountAsync("select count(*) from meetings where id = @MeetingId and audio_key is not null", other)).ShouldBe(1);
        (await StorageBytesAsync(other.OrganizationId)).ShouldBe(RecallFake.AudioBytes.Length);
    }

    private async Task<string> ScalarAsync(string sql, object args)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<string>(sql, args) ?? "";
    }

    private async Task<bool> FileExistsAsync(string key)
    {
        var download = await App.Service<IFileStore>().OpenReadAsync(key, CancellationToken.None);
        if (download is null) return false;
        await download.Content.DisposeAsync();
        return true;
    }
}

public sealed class OrganizationDeletionTestsOnSqlite(SqliteApp<BotsSetup> app) : OrganizationDeletionTests(app), IClassFixture<SqliteApp<BotsSetup>>;

public sealed class OrganizationDeletionTestsOnPostgres(PostgresApp<BotsSetup> app) : OrganizationDeletionTests(app), IClassFixture<PostgresApp<BotsSetup>>;
