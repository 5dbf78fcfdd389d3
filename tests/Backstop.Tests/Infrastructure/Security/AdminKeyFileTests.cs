using Backstop.Infrastructure.Audit;
using Backstop.Infrastructure.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Infrastructure.Security;

/// <summary>The generated admin key of a service started without <c>Admin:ApiKey</c>, over this app's database (whose own key is configured, so its row is free).</summary>
public abstract class AdminKeyFileTests(BackstopFactory app) : AppTest(app), IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "backstop-admin-" + Guid.NewGuid().ToString("N"));

    private sealed class Lines : ILogger<AdminKey>
    {
        public List<string> Written { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Written.Add(formatter(state, exception));
    }

    private (AdminKey Key, Lines Log, string File) Generated()
    {
        var file = Path.Combine(folder, "data", "admin-key");
        var log = new Lines();
        return (new AdminKey(App.Service<Db>(), Options.Create(new AdminOptions { KeyFile = file }), App.Time, log), log, file);
    }

    private async Task ForgetStoredKeyAsync()
    {
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync("delete from admin_credentials");
    }

    [Fact]
    public async Task With_stdout_redirected_a_generated_key_is_not_in_the_output_but_in_a_0600_file_and_the_log_says_where()
    {
        await ForgetStoredKeyAsync();
        var (key, log, file) = Generated();
        var output = new StringWriter();
        await key.InitializeAsync(output, consoleIsTerminal: false);

        File.Exists(file).ShouldBeTrue();
        var written = (await File.ReadAllTextAsync(file)).Trim();
        written.ShouldStartWith(AdminKey.Prefix);
        key.Matches(written).ShouldBeTrue();
        output.ToString().ShouldNotContain(written);
        output.ToString().ShouldNotContain(AdminKey.Prefix);
        log.Written.ShouldAllBe(l => !l.Contains(written));
        log.Written.ShouldContain(l => l.Contains(file));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(file).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.GetUnixFileMode(Path.GetDirectoryName(file)!).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task On_a_terminal_the_key_is_printed_once_and_no_file_is_written()
    {
        await ForgetStoredKeyAsync();
        var (key, _, file) = Generated();
        var output = new StringWriter();
        await key.InitializeAsync(output, consoleIsTerminal: true);
        var printed = System.Text.RegularExpressions.Regex.Match(output.ToString(), "bsa_[A-Za-z0-9_-]+").Value;
        key.Matches(printed).ShouldBeTrue();
        File.Exists(file).ShouldBeFalse();

        // A second start finds the stored hash: nothing printed again.
        var again = new StringWriter();
        var (restarted, _, _) = Generated();
        await restarted.InitializeAsync(again, consoleIsTerminal: true);
        again.ToString().ShouldBeEmpty();
        restarted.Matches(printed).ShouldBeTrue();
    }

    [Fact]
    public async Task Rotation_replaces_the_key_everywhere_and_is_audited()
    {
        await ForgetStoredKeyAsync();
        var (running, _, _) = Generated();
        var first = new StringWriter();
        await running.InitializeAsync(first, consoleIsTerminal: true);
        var old = System.Text.RegularExpressions.Regex.Match(first.ToString(), "bsa_[A-Za-z0-9_-]+").Value;

        var (cli, _, _) = Generated();
        var output = new StringWriter();
        (await cli.RotateAsync(output, consoleIsTerminal: true, App.Service<IAuditLog>())).ShouldBe(0);
        var rotated = System.Text.RegularExpressions.Regex.Match(output.ToString(), "bsa_[A-Za-z0-9_-]+").Value;
        rotated.ShouldNotBe(old);
        cli.Matches(rotated).ShouldBeTrue();
        cli.Matches(old).ShouldBeFalse();

        // A running instance still holds the old hash until it re-reads the row (AdminKeyRefresher, every few seconds).
        running.Matches(old).ShouldBeTrue();
        await running.RefreshAsync(CancellationToken.None);
        running.Matches(old).ShouldBeFalse();
        running.Matches(rotated).ShouldBeTrue();

        await using var connection = await App.OpenAsync();
        var audit = await connection.QuerySingleAsync<(string Actor, string? Changes)>(
            "select actor, changes from audit_log where action = 'admin_key.rotate' order by id desc limit 1");
        audit.Actor.ShouldBe("cli");
        (audit.Changes ?? "").ShouldNotContain(rotated);
    }

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class AdminKeyFileTestsOnSqlite(SqliteApp<DefaultSetup> app) : AdminKeyFileTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class AdminKeyFileTestsOnPostgres(PostgresApp<DefaultSetup> app) : AdminKeyFileTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
