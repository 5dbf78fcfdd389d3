using System.Globalization;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Tests.Features.Bots;

/// <summary>The bots' setup with a local SMTP server, to see the outbox go on past a refused recording.</summary>
public sealed class CarefulDownloadSetup : BotsSetup
{
    public SmtpTestServer Smtp { get; } = new();

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Email:Smtp:Host"] = "127.0.0.1";
        settings["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture);
        settings["Email:Smtp:TlsMode"] = "none";
        settings["Email:From"] = "Backstop <no-reply@backstop.test>";
        // An S3 host besides the fake's own, so that a plain-HTTP link on it reaches the HTTPS rule.
        settings["Recall:MediaHosts"] = Recall.Host + "," + RecallFake.RemoteMediaHost;
    }

    public override async ValueTask DisposeAsync()
    {
        await Smtp.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The recording is copied only from an allowed host, within a size cap and a total timeout; a recording that breaks a
/// rule fails its meeting (<c>recording_unavailable:{reason}</c>) and the outbox goes on.
/// </summary>
public abstract class CarefulDownloadTests(BackstopFactory app) : AppTest(app)
{
    private async Task<(string? Status, string? FailureReason, string? AudioKey)> MeetingAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string?, string?, string?)>("select status, failure_reason, audio_key from meetings where id = @id", new { id });
    }

    private async Task<OutboxMessage> FetchMessageAsync(string botId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<OutboxMessage>("select * from outbox_messages where idempotency_key = @key", new { key = "bots:fetch_recording:" + botId });
    }

    private string[] StoredFiles(string meetingId)
    {
        var folder = Path.Combine(App.SetupAs<CarefulDownloadSetup>().FilesPath, "meetings", meetingId);
        return Directory.Exists(folder) ? Directory.GetFiles(folder) : [];
    }

    [Fact]
    public async Task A_stalled_download_keeps_its_lease_then_times_out_failing_its_meeting_and_an_email_queued_after_it_is_sent()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Stall);
        var to = $"after-{Guid.NewGuid():N}@example.com";
        await App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
            OutboxEmail.Create("test:" + Guid.NewGuid(), to, new EmailContent("After the recording", "text", "<p>html</p>")), CancellationToken.None));

        var dispatching = Task.Run(() => App.DispatchAsync());
        await App.Recall().StallStarted.WaitAsync(TimeSpan.FromSeconds(60));
        var claimed = await FetchMessageAsync(r.BotId);
        claimed.Status.ShouldBe("sending");

        // Past a third of the lease the copy renews it; past the first lease's end another dispatcher cannot claim it.
        App.Time.Advance(TimeSpan.FromSeconds(50));
        var renewedUntil = await LeaseUntilEventuallyAsync(r.BotId, after: App.Time.GetUtcNow().AddSeconds(100));
        App.Time.Advance(TimeSpan.FromSeconds(100));
        (await LeaseUntilAsync(r.BotId)).ShouldBeGreaterThan(App.Time.GetUtcNow());
        renewedUntil.ShouldBeGreaterThan(App.Time.GetUtcNow());
        await App.Service<OutboxDispatcher>().DispatchDueAsync(CancellationToken.None);
        (await FetchMessageAsync(r.BotId)).Attempts.ShouldBe(1);

        // Recall:DownloadTimeoutMinutes (30) on the app's clock ends the copy.
        App.Time.Advance(TimeSpan.FromMinutes(30));
        await dispatching.WaitAsync(TimeSpan.FromSeconds(60));
        await App.DispatchAsync();

        var meeting = await MeetingAsync(r.MeetingId);
        meeting.Status.ShouldBe("failed");
        meeting.FailureReason.ShouldBe("recording_unavailable:timeout");
        meeting.AudioKey.ShouldBeNull();
        StoredFiles(r.MeetingId).ShouldBeEmpty();
        var fetch = await FetchMessageAsync(r.BotId);
        fetch.Status.ShouldBe("dead");
        fetch.Attempts.ShouldBe(1);
        fetch.LastError.ShouldNotBeNull().ShouldContain("timeout");
        App.SetupAs<CarefulDownloadSetup>().Smtp.Received.Count(m => m.To.Contains(to)).ShouldBe(1);
    }

    private async Task<DateTimeOffset> LeaseUntilAsync(string botId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<DateTimeOffset>("select lease_until from outbox_messages where idempotency_key = @key", new { key = "bots:fetch_recording:" + botId });
    }

    /// <summary>The renewal runs on the dispatcher's own task once the clock moved; its write is awaited here (bounded).</summary>
    private async Task<DateTimeOffset> LeaseUntilEventuallyAsync(string botId, DateTimeOffset after)
    {
        // Bounded by a generous real-time deadline (not a count of polls): on a loaded machine one poll can take long.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var until = await LeaseUntilAsync(botId);
            if (until > after) return until;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The lease was not renewed within 60 s.");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_recording_over_the_cap_fails_its_meeting_and_nothing_is_stored()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Large);
        await App.DispatchAsync();

        var meeting = await MeetingAsync(r.MeetingId);
        meeting.Status.ShouldBe("failed");
        meeting.FailureReason.ShouldBe("recording_unavailable:too_large");
        StoredFiles(r.MeetingId).ShouldBeEmpty();
        (await FetchMessageAsync(r.BotId)).Status.ShouldBe("dead");
    }

    [Theory]
    [InlineData(RecallFake.MediaBehaviour.OtherHost, "recording_unavailable:host_not_allowed")]
    [InlineData(RecallFake.MediaBehaviour.RedirectAway, "recording_unavailable:redirect_refused")]
    public async Task A_recording_on_another_host_is_refused(RecallFake.MediaBehaviour behaviour, string reason)
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, behaviour);
        await App.DispatchAsync();

        var meeting = await MeetingAsync(r.MeetingId);
        meeting.Status.ShouldBe("failed");
        meeting.FailureReason.ShouldBe(reason);
        StoredFiles(r.MeetingId).ShouldBeEmpty();
    }

    [Theory]
    [InlineData(RecallFake.MediaBehaviour.PlainHttpRemote, "not_https")]
    [InlineData(RecallFake.MediaBehaviour.Truncated, "length_mismatch")]
    public async Task A_recording_breaking_a_rule_fails_its_meeting_with_the_reason_and_an_email_queued_after_it_is_sent(RecallFake.MediaBehaviour behaviour, string reason)
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, behaviour);
        var to = $"after-{Guid.NewGuid():N}@example.com";
        await App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
            OutboxEmail.Create("test:" + Guid.NewGuid(), to, new EmailContent("After the recording", "text", "<p>html</p>")), CancellationToken.None));

        await App.DispatchAsync();

        var meeting = await MeetingAsync(r.MeetingId);
        meeting.Status.ShouldBe("failed");
        meeting.FailureReason.ShouldBe("recording_unavailable:" + reason);
        meeting.AudioKey.ShouldBeNull();
        StoredFiles(r.MeetingId).ShouldBeEmpty();
        var fetch = await FetchMessageAsync(r.BotId);
        fetch.Status.ShouldBe("dead");
        fetch.LastError.ShouldNotBeNull().ShouldContain(reason);
        App.SetupAs<CarefulDownloadSetup>().Smtp.Received.Count(m => m.To.Contains(to)).ShouldBe(1);
    }

    [Fact]
    public async Task A_copy_that_finishes_for_a_meeting_deleted_during_it_leaves_no_file()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.Held);
        var dispatching = Task.Run(() => App.DispatchAsync());
        await App.Recall().HeldStarted.WaitAsync(TimeSpan.FromSeconds(60));

        (await r.Client.DeleteAsync($"/v1/meetings/{r.MeetingId}")).StatusCode.ShouldBe(System.Net.HttpStatusCode.NoContent);
        App.Recall().ReleaseHeld();
        await dispatching.WaitAsync(TimeSpan.FromSeconds(60));

        (await MeetingAsync(r.MeetingId)).AudioKey.ShouldBeNull();
        StoredFiles(r.MeetingId).ShouldBeEmpty();
        (await FetchMessageAsync(r.BotId)).Status.ShouldBe("sent");
        (await App.CountAsync("select coalesce(sum(used), 0) from usage_counters where organization_id = @OrganizationId and metric = 'storage_bytes'", r)).ShouldBe(0);
        (await App.CountAsync("select count(*) from transcriptions where meeting_id = @MeetingId", r)).ShouldBe(0);
    }

    [Fact]
    public async Task A_redirect_on_the_same_host_is_followed()
    {
        var r = await App.DoneMeetingAsync();
        App.Recall().SetMedia(r.BotId, RecallFake.MediaBehaviour.RedirectSameHost);
        await App.DispatchAsync();

        var meeting = await MeetingAsync(r.MeetingId);
        meeting.Status.ShouldBe("transcribing");
        (await File.ReadAllBytesAsync(Path.Combine(App.SetupAs<CarefulDownloadSetup>().FilesPath, meeting.AudioKey!))).ShouldBe(RecallFake.AudioBytes);
    }
}

public sealed class CarefulDownloadTestsOnSqlite(SqliteApp<CarefulDownloadSetup> app) : CarefulDownloadTests(app), IClassFixture<SqliteApp<CarefulDownloadSetup>>;

public sealed class CarefulDownloadTestsOnPostgres(PostgresApp<CarefulDownloadSetup> app) : CarefulDownloadTests(app), IClassFixture<PostgresApp<CarefulDownloadSetup>>;
