using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Cleanup;

/// <summary>The orphaned-bots sweep asks Recall before it fails anything: silence is not death.</summary>
public abstract class OrphanedBotsAskRecallTests(BackstopFactory app) : AppTest(app)
{
    private CleanupSetup Setup => App.SetupAs<CleanupSetup>();

    private Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(OrphanedBotsJob.Id, CancellationToken.None);

    private async Task<(string Status, string? FailureReason, DateTimeOffset? StopRequestedAt)> StateAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string, string?, DateTimeOffset?)>("select status, failure_reason, stop_requested_at from meetings where id = @id", new { id });
    }

    private async Task<long> RecallMessagesAsync(string id) =>
        await App.ScalarAsync<long>("select count(*) from outbox_messages where reference = @id and channel = 'recall'", new { id });

    [Fact]
    public async Task At_hour_3_of_a_recording_Recall_reports_alive_the_meeting_is_not_failed_and_at_MaxRecordingHours_it_is_sent_away_keeping_its_recording()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_alive_" + Guid.NewGuid().ToString("N");
        Setup.BotStatuses[botId] = "in_call_recording";
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), botId);

        await SweepAsync();
        var alive = await StateAsync(id);
        alive.Status.ShouldBe("recording");
        alive.FailureReason.ShouldBeNull();
        alive.StopRequestedAt.ShouldBeNull();
        (await RecallMessagesAsync(id)).ShouldBe(0);
        Setup.BotGets(botId).Count.ShouldBe(1);
        // Checked again only after another quiet period, not at every run.
        await SweepAsync();
        Setup.BotGets(botId).Count.ShouldBe(1);

        // Past Cleanup:MaxRecordingHours (6 h after it started): sent away; the meeting keeps recording until Recall's webhooks end it.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update meetings set created_at = @started where id = @id", new { started = App.Time.GetUtcNow().AddHours(-6.1), id });
        await SweepAsync();
        var overTime = await StateAsync(id);
        overTime.Status.ShouldBe("recording");
        overTime.FailureReason.ShouldBeNull();
        overTime.StopRequestedAt.ShouldNotBeNull();
        (await RecallMessagesAsync(id)).ShouldBe(1);
        await App.DispatchAsync();
        Setup.LeaveCalls(botId).Count.ShouldBe(1);
        await SweepAsync();
        (await RecallMessagesAsync(id)).ShouldBe(1);
    }

    [Fact]
    public async Task A_bot_Recall_reports_done_moves_its_meeting_on_and_its_recording_is_fetched()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_finished_" + Guid.NewGuid().ToString("N");
        Setup.BotStatuses[botId] = "done";
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), botId);

        await SweepAsync();
        (await StateAsync(id)).Status.ShouldBe("done");
        (await App.ScalarAsync<long>("select count(*) from outbox_messages where reference = @id and channel = 'bots'", new { id })).ShouldBe(1);
        (await App.ScalarAsync<long>("select count(*) from outbox_messages where reference = @id and channel = 'email'", new { id })).ShouldBe(0);
    }

    [Fact]
    public async Task A_meeting_scheduled_5_hours_ahead_is_not_failed()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_scheduled_" + Guid.NewGuid().ToString("N");
        var id = await App.InsertMeetingAsync(organization.Id, "joining", App.Time.GetUtcNow().AddHours(-3), botId);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update meetings set join_at = @joinAt, created_at = @now where id = @id",
                new { joinAt = App.Time.GetUtcNow().AddHours(5), now = App.Time.GetUtcNow(), id });

        await SweepAsync();
        (await StateAsync(id)).Status.ShouldBe("joining");
        Setup.BotGets(botId).Count.ShouldBe(0);
        (await App.ScalarAsync<long>("select count(*) from outbox_messages where reference = @id", new { id })).ShouldBe(0);
    }

    [Fact]
    public async Task A_bot_Recall_does_not_know_is_failed_as_before()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_unknown_" + Guid.NewGuid().ToString("N");
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), botId);
        await SweepAsync();
        (await StateAsync(id)).FailureReason.ShouldBe("bot_timeout");
        Setup.BotGets(botId).Count.ShouldBe(1);
    }
}

public sealed class OrphanedBotsAskRecallTestsOnSqlite(SqliteApp<CleanupSetup> app) : OrphanedBotsAskRecallTests(app), IClassFixture<SqliteApp<CleanupSetup>>;

public sealed class OrphanedBotsAskRecallTestsOnPostgres(PostgresApp<CleanupSetup> app) : OrphanedBotsAskRecallTests(app), IClassFixture<PostgresApp<CleanupSetup>>;
