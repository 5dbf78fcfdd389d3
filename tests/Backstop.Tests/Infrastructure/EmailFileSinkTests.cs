using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Tests.Features.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;

namespace Backstop.Tests.Infrastructure;

/// <summary>Email without SMTP: the development file sink.</summary>
public abstract class EmailFileSinkTests(BackstopFactory app) : AppTest(app)
{
    private string Folder => App.SetupAs<EmailFileSinkTestsSetup>().Folder;

    private LogCapture Logs => App.Services.GetServices<ILogEventSink>().OfType<LogCapture>().Single();

    private Task<EnqueueResult> EnqueueAsync(OutboxEnvelope message) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t, message, CancellationToken.None));

    private static EmailContent Content(string subject) => new(subject, "Text", "<b>Html</b>");

    private async Task<OutboxMessage> RowAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<OutboxMessage>("select * from outbox_messages where id = @id", new { id });
    }

    [Fact]
    public async Task A_one_time_code_is_never_written_to_the_file_sink_and_its_message_is_dead_with_the_reason()
    {
        var (client, _) = await App.TenantAsync();
        var to = $"person-{Guid.NewGuid():N}@example.com";
        var response = await client.PostJsonAsync("/v1/otp", new { channel = "email", to });
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var otpId = (await response.JsonAsync()).GetProperty("id").GetString();
        await App.DispatchAsync();

        if (Directory.Exists(Folder))
            foreach (var file in Directory.GetFiles(Folder, "*.eml*"))
                (await File.ReadAllTextAsync(file)).ShouldNotContain(to, Case.Insensitive);
        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<OutboxMessage>(
            "select * from outbox_messages where idempotency_key = @key", new { key = $"otp:{otpId}" });
        row.Status.ShouldBe(OutboxStatus.Dead);
        row.LastError.ShouldNotBeNull().ShouldContain("one-time code");
        row.Payload.ShouldBe(OutboxMessage.ErasedPayload);
        row.LastError.ShouldNotBeNull().ShouldContain("Email:Smtp:Host");
    }

    [Fact]
    public async Task A_sensitive_message_is_dead_and_an_ordinary_one_is_written_readable_only_by_the_service_user()
    {
        var secret = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), "a@example.com", Content("Code 123456"), sensitive: true));
        var plain = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), "b@example.com", Content("Welcome")));
        await App.DispatchAsync();

        (await RowAsync(secret.Id)).Status.ShouldBe(OutboxStatus.Dead);
        Directory.GetFiles(Folder, $"*{secret.Id}*").ShouldBeEmpty();
        (await RowAsync(plain.Id)).Status.ShouldBe(OutboxStatus.Sent);
        var file = Directory.GetFiles(Folder, $"*{plain.Id}.eml").ShouldHaveSingleItem();
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(file).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.GetUnixFileMode(Folder).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void The_file_sink_is_announced_once_at_start_up_as_a_development_sink()
    {
        var announcements = Logs.Events.Where(e => e.MessageTemplate.Text.Contains("development sink")).ToList();
        announcements.Count.ShouldBe(1);
        announcements[0].Level.ShouldBe(Serilog.Events.LogEventLevel.Warning);
        announcements[0].RenderMessage().ShouldContain(Path.GetFullPath(Folder));
    }

    [Fact]
    public async Task Email_files_older_than_the_retention_are_deleted_and_nothing_else_is()
    {
        var old = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), "old@example.com", Content("Old")));
        var recent = await EnqueueAsync(OutboxEmail.Create("test:" + Guid.NewGuid(), "new@example.com", Content("New")));
        await App.DispatchAsync();
        var oldFile = Directory.GetFiles(Folder, $"*{old.Id}.eml").ShouldHaveSingleItem();
        var recentFile = Directory.GetFiles(Folder, $"*{recent.Id}.eml").ShouldHaveSingleItem();
        var unrelated = Path.Combine(Folder, $"notes-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(unrelated, "kept");

        // Retention is 3 days here; the clock of the app decides, file times are set relative to it.
        var now = App.Time.GetUtcNow().UtcDateTime;
        File.SetLastWriteTimeUtc(oldFile, now.AddDays(-3).AddMinutes(-1));
        File.SetLastWriteTimeUtc(recentFile, now.AddDays(-3).AddMinutes(1));
        File.SetLastWriteTimeUtc(unrelated, now.AddDays(-30));

        using var scope = App.Services.CreateScope();
        var deleted = await scope.ServiceProvider.GetRequiredService<EmailFileRetentionJob>().RunAsync(CancellationToken.None);

        deleted.ShouldBeGreaterThanOrEqualTo(1);
        File.Exists(oldFile).ShouldBeFalse();
        File.Exists(recentFile).ShouldBeTrue();
        File.Exists(unrelated).ShouldBeTrue();
    }
}

public sealed class EmailFileSinkTestsSetup : AppSetup
{
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "backstop-mail-" + Guid.NewGuid().ToString("N"));

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Outbox:DispatcherEnabled"] = "false";
        settings["Email:Smtp:Host"] = "";
        settings["Email:PickupFolder"] = Folder;
        settings["Email:FileRetentionDays"] = "3";
    }

    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();

    public override ValueTask DisposeAsync()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
        return base.DisposeAsync();
    }
}

public sealed class EmailFileSinkTestsOnSqlite(SqliteApp<EmailFileSinkTestsSetup> app) : EmailFileSinkTests(app), IClassFixture<SqliteApp<EmailFileSinkTestsSetup>>;

public sealed class EmailFileSinkTestsOnPostgres(PostgresApp<EmailFileSinkTestsSetup> app) : EmailFileSinkTests(app), IClassFixture<PostgresApp<EmailFileSinkTestsSetup>>;
