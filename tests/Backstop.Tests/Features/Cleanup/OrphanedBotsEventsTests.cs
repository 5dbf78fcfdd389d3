using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Cleanup;

/// <summary>The orphaned-bots sweep's failures announce <c>meeting.failed</c>, in the transaction that fails the meeting.</summary>
public abstract class OrphanedBotsEventsTests(BackstopFactory app) : AppTest(app)
{
    private CleanupSetup Setup => App.SetupAs<CleanupSetup>();

    private Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(OrphanedBotsJob.Id, CancellationToken.None);

    private async Task<List<(string Type, long Sequence, JsonElement Data)>> EventsAsync(string organizationId)
    {
        await using var connection = await App.OpenAsync();
        var rows = await connection.QueryAsync<(string Type, long Sequence, string Data)>(
            "select type, sequence, data from events where organization_id = @organizationId order by sequence", new { organizationId });
        return rows.Select(r => (r.Type, r.Sequence, JsonDocument.Parse(r.Data).RootElement.Clone())).ToList();
    }

    [Fact]
    public async Task Meetings_failed_for_bot_timeout_each_announce_one_meeting_failed_with_the_reason_and_consecutive_sequences()
    {
        var organization = await App.CreateOrganizationAsync();
        var stale = App.Time.GetUtcNow().AddHours(-3);
        // Bots Recall does not know: the sweep fails their meetings (bot_timeout), all three in one batch.
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await App.InsertMeetingAsync(organization.Id, "recording", stale, "bot_gone_" + Guid.NewGuid().ToString("N")));
        var before = (await EventsAsync(organization.Id)).Count;

        await SweepAsync();
        await SweepAsync();

        var events = await EventsAsync(organization.Id);
        var failed = events.Skip(before).ToList();
        failed.Select(e => e.Type).ShouldAllBe(t => t == "meeting.failed");
        failed.Select(e => e.Data.GetProperty("id").GetString()).Order().ShouldBe(ids.Order());
        failed.ShouldAllBe(e => e.Data.GetProperty("status").GetString() == "failed" && e.Data.GetProperty("failureReason").GetString() == "bot_timeout");
        // Monotonic and gap-free per organization, the batch's block included.
        events.Select(e => e.Sequence).ShouldBe(Enumerable.Range(1, events.Count).Select(i => (long)i));
    }

    [Fact]
    public async Task A_bot_Recall_reports_fatal_fails_its_meeting_with_one_meeting_failed_event()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_fatal_" + Guid.NewGuid().ToString("N");
        Setup.BotStatuses[botId] = "fatal";
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), botId);
        var before = (await EventsAsync(organization.Id)).Count;

        await SweepAsync();
        await SweepAsync();

        await using (var connection = await App.OpenAsync())
            (await connection.QuerySingleAsync<string>("select status from meetings where id = @id", new { id })).ShouldBe("failed");
        var events = await EventsAsync(organization.Id);
        var added = events.Skip(before).ToList();
        added.Count.ShouldBe(1);
        added[0].Type.ShouldBe("meeting.failed");
        added[0].Data.GetProperty("id").GetString().ShouldBe(id);
        added[0].Data.GetProperty("status").GetString().ShouldBe("failed");
        added[0].Data.GetProperty("failureReason").GetString().ShouldBe("fatal");
        events.Select(e => e.Sequence).ShouldBe(Enumerable.Range(1, events.Count).Select(i => (long)i));
    }

    [Fact]
    public async Task A_bot_Recall_reports_done_announces_the_bot_s_move_and_no_failure()
    {
        var organization = await App.CreateOrganizationAsync();
        var botId = "bot_done_" + Guid.NewGuid().ToString("N");
        Setup.BotStatuses[botId] = "done";
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), botId);
        var before = (await EventsAsync(organization.Id)).Count;

        await SweepAsync();

        var added = (await EventsAsync(organization.Id)).Skip(before).ToList();
        added.ShouldHaveSingleItem().Type.ShouldBe("meeting.bot_status_changed");
        added[0].Data.GetProperty("id").GetString().ShouldBe(id);
        added[0].Data.GetProperty("status").GetString().ShouldBe("done");
    }
}

public sealed class OrphanedBotsEventsTestsOnSqlite(SqliteApp<CleanupSetup> app) : OrphanedBotsEventsTests(app), IClassFixture<SqliteApp<CleanupSetup>>;

public sealed class OrphanedBotsEventsTestsOnPostgres(PostgresApp<CleanupSetup> app) : OrphanedBotsEventsTests(app), IClassFixture<PostgresApp<CleanupSetup>>;
