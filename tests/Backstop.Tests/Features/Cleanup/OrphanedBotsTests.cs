using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Tests.Features.Bots;

namespace Backstop.Tests.Features.Cleanup;

public abstract class OrphanedBotsTests(BackstopFactory app) : AppTest(app)
{
    private CleanupSetup Setup => App.SetupAs<CleanupSetup>();

    private Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(OrphanedBotsJob.Id, CancellationToken.None);

    private sealed record MeetingState(string Status, string? FailureReason, string? FailureDetails, DateTimeOffset UpdatedAt, string? BotId);

    private async Task<MeetingState> MeetingAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<MeetingState>(
            "select status, failure_reason, failure_details, updated_at, bot_id from meetings where id = @id", new { id });
    }

    private async Task<List<(string Channel, string Payload)>> OutboxForAsync(string meetingId)
    {
        await using var connection = await App.OpenAsync();
        return (await connection.QueryAsync<(string, string)>(
            "select channel, payload from outbox_messages where reference = @meetingId order by id", new { meetingId })).ToList();
    }

    [Fact]
    public async Task A_bot_without_update_for_2h01_is_failed_sent_away_and_its_member_emailed_once_but_not_at_1h59()
    {
        var organization = await App.CreateOrganizationAsync();
        var member = "user_" + Guid.NewGuid().ToString("N")[..10];
        await App.AddMemberAsync(organization.Id, member, $"{member}@example.com");
        await App.AddMemberAsync(organization.Id, null, $"owner-{member}@example.com", "owner");
        var botId = "bot_" + Guid.NewGuid().ToString("N");
        var id = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow(), botId, member);
        var lastUpdate = App.Time.GetUtcNow();

        App.Time.Advance(TimeSpan.FromMinutes(119));
        (await SweepAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        var untouched = await MeetingAsync(id);
        untouched.Status.ShouldBe("recording");
        untouched.FailureDetails.ShouldBeNull();
        untouched.UpdatedAt.ShouldBe(lastUpdate);
        (await OutboxForAsync(id)).ShouldBeEmpty();

        App.Time.Advance(TimeSpan.FromMinutes(2));
        var run = await SweepAsync();
        run.Outcome.ShouldBe(JobRunner.Succeeded);
        var failed = await MeetingAsync(id);
        failed.Status.ShouldBe("failed");
        failed.FailureReason.ShouldBe("bot_timeout");
        var details = JsonDocument.Parse(failed.FailureDetails!).RootElement;
        details.GetProperty("failureReason").GetString().ShouldBe("bot_timeout");
        details.GetProperty("originalBotId").GetString().ShouldBe(botId);
        DateTimeOffset.Parse(details.GetProperty("cleanedUpAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ShouldBe(App.Time.GetUtcNow());
        var counts = JsonSerializer.Deserialize<Dictionary<string, long>>(run.Counts!)!;
        counts[SweepCounts.DoneKey].ShouldBeGreaterThanOrEqualTo(1);

        var messages = await OutboxForAsync(id);
        messages.Count(m => m.Channel == "recall").ShouldBe(1);
        var emails = messages.Where(m => m.Channel == OutboxEmail.Channel).Select(m => JsonSerializer.Deserialize<EmailPayload>(m.Payload, Http.Json)!).ToList();
        emails.Count.ShouldBe(1);
        emails[0].To.ShouldBe($"{member}@example.com");
        emails[0].Text.ShouldContain(OrphanedBotsJob.TimeoutMessage);

        await App.DispatchAsync();
        Setup.LeaveCalls(botId).Count.ShouldBe(1);

        // A second run (and a third, later) finds nothing more to do for this meeting.
        var afterFirst = await MeetingAsync(id);
        await SweepAsync();
        App.Time.Advance(TimeSpan.FromHours(3));
        await SweepAsync();
        (await MeetingAsync(id)).ShouldBe(afterFirst);
        (await OutboxForAsync(id)).Count.ShouldBe(2);
        await App.DispatchAsync();
        Setup.LeaveCalls(botId).Count.ShouldBe(1);
    }

    [Fact]
    public async Task The_meeting_shows_the_sweeps_failure_reason_cleanup_time_and_original_bot()
    {
        var tenant = await App.CreateTenantAsync();
        var botId = "bot_" + Guid.NewGuid().ToString("N");
        var id = await App.InsertMeetingAsync(tenant.OrganizationId, "recording", App.Time.GetUtcNow().AddHours(-5), botId);
        var client = App.Client(tenant);
        var before = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        before.GetProperty("cleanedUpAt").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        before.GetProperty("originalBotId").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        await SweepAsync();

        var meeting = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        meeting.GetProperty("status").GetString().ShouldBe("failed");
        meeting.GetProperty("failureReason").GetString().ShouldBe("bot_timeout");
        meeting.GetProperty("originalBotId").GetString().ShouldBe(botId);
        meeting.GetProperty("cleanedUpAt").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow(), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Without_the_member_the_owners_are_emailed_and_a_bot_already_gone_at_recall_is_success()
    {
        var organization = await App.CreateOrganizationAsync();
        var owner = $"owner-{Guid.NewGuid():N}@example.com";
        await App.AddMemberAsync(organization.Id, null, owner, "owner");
        var botId = "bot_completed_" + Guid.NewGuid().ToString("N");
        var id = await App.InsertMeetingAsync(organization.Id, "in_call", App.Time.GetUtcNow().AddHours(-5), botId, "user_unknown");

        await SweepAsync();
        await App.DispatchAsync();

        (await MeetingAsync(id)).Status.ShouldBe("failed");
        var emails = (await OutboxForAsync(id)).Where(m => m.Channel == OutboxEmail.Channel).ToList();
        emails.Count.ShouldBe(1);
        emails[0].Payload.ShouldContain(owner);
        Setup.LeaveCalls(botId).Count.ShouldBe(1);
        (await App.ScalarAsync<string>("select status from outbox_messages where reference = @id and channel = 'recall'", new { id })).ShouldBe("sent");
    }

    [Fact]
    public async Task A_recall_error_neither_stops_the_sweep_nor_undoes_the_failure()
    {
        var organization = await App.CreateOrganizationAsync();
        var failing = "bot_recall-error_" + Guid.NewGuid().ToString("N");
        var healthy = "bot_" + Guid.NewGuid().ToString("N");
        // The failing bot's meeting sorts first: the sweep meets the error before the healthy one.
        var first = await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), failing);
        var second = await App.InsertMeetingAsync(organization.Id, "joining", App.Time.GetUtcNow().AddHours(-3), healthy);

        await SweepAsync();
        await App.DispatchAsync();

        Setup.LeaveCalls(failing).Count.ShouldBe(1);
        Setup.LeaveCalls(healthy).Count.ShouldBe(1);
        (await MeetingAsync(first)).Status.ShouldBe("failed");
        (await MeetingAsync(second)).Status.ShouldBe("failed");
        await using var connection = await App.OpenAsync();
        var retried = await connection.QuerySingleAsync<(string Status, int Attempts, string? LastError)>(
            "select status, attempts, last_error from outbox_messages where reference = @first and channel = 'recall'", new { first });
        retried.Status.ShouldBe("pending");
        retried.Attempts.ShouldBe(1);
        retried.LastError.ShouldNotBeNull();
        (await connection.ExecuteScalarAsync<string>("select status from outbox_messages where reference = @second and channel = 'recall'", new { second })).ShouldBe("sent");
    }

    [Fact]
    public async Task A_meeting_the_database_refuses_to_fail_is_logged_and_counted_while_the_rest_of_its_batch_is_swept()
    {
        var organization = await App.CreateOrganizationAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add(await App.InsertMeetingAsync(organization.Id, "in_call", App.Time.GetUtcNow().AddHours(-4), "bot_" + Guid.NewGuid().ToString("N")));
        var poisoned = ids[2];
        var trigger = "tr_poison_" + Guid.NewGuid().ToString("N")[..8];
        await using var connection = await App.OpenAsync();
        // A real failure of one row inside the batch's transaction: the database itself refuses the update.
        if (App.DatabaseKind == "postgres")
        {
            await connection.ExecuteAsync($"""
                create function {trigger}() returns trigger language plpgsql as $$
                begin
                    if new.id = '{poisoned}' and new.status = 'failed' then raise exception 'poisoned row'; end if;
                    return new;
                end $$;
                create trigger {trigger} before update on meetings for each row execute function {trigger}();
                """);
        }
        else
        {
            await connection.ExecuteAsync($"""
                create trigger {trigger} before update on meetings
                when new.id = '{poisoned}' and new.status = 'failed'
                begin select raise(abort, 'poisoned row'); end
                """);
        }
        try
        {
            var run = await SweepAsync();

            run.Outcome.ShouldBe(JobRunner.Succeeded);
            var counts = JsonSerializer.Deserialize<Dictionary<string, long>>(run.Counts!)!;
            counts[SweepCounts.FailedKey].ShouldBe(1);
            counts[SweepCounts.DoneKey].ShouldBeGreaterThanOrEqualTo(4);
            foreach (var id in ids.Where(i => i != poisoned))
            {
                (await MeetingAsync(id)).Status.ShouldBe("failed");
                (await OutboxForAsync(id)).Count(m => m.Channel == "recall").ShouldBe(1);
            }
            (await MeetingAsync(poisoned)).Status.ShouldBe("in_call");
            (await OutboxForAsync(poisoned)).ShouldBeEmpty();
        }
        finally
        {
            await connection.ExecuteAsync(App.DatabaseKind == "postgres"
                ? $"drop trigger {trigger} on meetings; drop function {trigger}();"
                : $"drop trigger {trigger}");
            // Its next run takes it: the failure was one row's, for one run.
            await SweepAsync();
            (await MeetingAsync(poisoned)).Status.ShouldBe("failed");
        }
    }

    [Fact]
    public async Task A_webhook_racing_the_sweep_either_wins_or_loses_cleanly_for_each_of_24_meetings()
    {
        var organization = await App.CreateOrganizationAsync();
        await App.AddMemberAsync(organization.Id, null, $"owner-{Guid.NewGuid():N}@example.com", "owner");
        var bots = Enumerable.Range(0, 24).Select(_ => "bot_" + Guid.NewGuid().ToString("N")).ToList();
        var ids = new List<string>();
        foreach (var bot in bots) ids.Add(await App.InsertMeetingAsync(organization.Id, "recording", App.Time.GetUtcNow().AddHours(-3), bot));

        // Recall's call_ended for every bot, delivered while the sweep runs (each a real signed delivery to the inbox).
        var endedAt = App.Time.GetUtcNow().AddMinutes(-1);
        var deliveries = bots.Select(bot => Task.Run(() => App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"),
            RecallWebhooks.StatusBody(bot, "call_ended", endedAt)))).ToList();
        var sweep = Task.Run(SweepAsync);
        await Task.WhenAll(deliveries);
        await sweep;

        await using var connection = await App.OpenAsync();
        foreach (var id in ids)
        {
            var row = await MeetingAsync(id);
            var cleanup = (await OutboxForAsync(id)).Count(m => m.Channel == OutboxEmail.Channel);
            if (row.Status == "failed")
            {
                row.FailureDetails.ShouldNotBeNull();
                cleanup.ShouldBe(1);
            }
            else
            {
                row.Status.ShouldBe("processing");
                row.FailureDetails.ShouldBeNull();
                cleanup.ShouldBe(0);
            }
        }
    }
}

public sealed class OrphanedBotsTestsOnSqlite(SqliteApp<CleanupBotsSetup> app) : OrphanedBotsTests(app), IClassFixture<SqliteApp<CleanupBotsSetup>>;

public sealed class OrphanedBotsTestsOnPostgres(PostgresApp<CleanupBotsSetup> app) : OrphanedBotsTests(app), IClassFixture<PostgresApp<CleanupBotsSetup>>;

/// <summary>The cleanup app that also accepts Recall's webhooks (signed with the Bots tests' secret).</summary>
public sealed class CleanupBotsSetup : CleanupSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Recall:WebhookSecret"] = BotsSetup.RecallWebhookSecret;
    }
}
