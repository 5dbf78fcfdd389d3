namespace Backstop.Tests.Features.Bots;

/// <summary>The bots app with S3 storage on s3rver.</summary>
public sealed class BotsS3Setup : BotsSetup
{
    public S3rverServer S3 { get; } = new();

    public override async ValueTask StartAsync()
    {
        await base.StartAsync();
        await S3.StartAsync();
    }

    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        S3.Apply(settings);
    }

    public override async ValueTask DisposeAsync()
    {
        await S3.DisposeAsync();
        await base.DisposeAsync();
    }
}

public abstract class RecordingOnS3Tests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Done_copies_the_recording_into_the_s3_store()
    {
        App.SetupAs<BotsS3Setup>().S3.SkipIfUnavailable();
        var client = await App.TenantClientAsync();
        var meeting = await client.CreateMeetingAsync(startBot: true);
        var id = meeting.GetProperty("id").GetString()!;
        var botId = meeting.GetProperty("botId").GetString()!;
        await App.DeliverAsync("msg_" + Guid.NewGuid().ToString("N"), RecallWebhooks.StatusBody(botId, "done", new DateTimeOffset(2026, 11, 23, 11, 30, 0, TimeSpan.Zero)));
        App.Recall().SetStatus(botId, "done");
        await App.DispatchAsync();

        var view = await (await client.GetAsync($"/v1/meetings/{id}")).JsonAsync();
        view.GetProperty("audio").GetProperty("size").GetInt64().ShouldBe(RecallFake.AudioBytes.Length);
        (await (await client.GetAsync($"/v1/meetings/{id}/audio")).Content.ReadAsByteArrayAsync()).ShouldBe(RecallFake.AudioBytes);
        // Nothing on the local disk: the bytes are in the bucket.
        Directory.Exists(Path.Combine(App.SetupAs<BotsS3Setup>().FilesPath, "meetings", id)).ShouldBeFalse();
        Directory.EnumerateFiles(App.SetupAs<BotsS3Setup>().S3.ObjectDirectory!, "*", SearchOption.AllDirectories)
            .ShouldContain(f => f.Contains(botId, StringComparison.Ordinal));
    }
}

public sealed class RecordingOnS3TestsOnSqlite(SqliteApp<BotsS3Setup> app) : RecordingOnS3Tests(app), IClassFixture<SqliteApp<BotsS3Setup>>;

public sealed class RecordingOnS3TestsOnPostgres(PostgresApp<BotsS3Setup> app) : RecordingOnS3Tests(app), IClassFixture<PostgresApp<BotsS3Setup>>;
