using System.Diagnostics;
using System.Net.Sockets;
using Npgsql;

[assembly: AssemblyFixture(typeof(Backstop.Tests.Support.PostgresServer))]

namespace Backstop.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: the one named by <c>BACKSTOP_TEST_POSTGRES</c> (a connection string), or a
/// throwaway server started from this machine's own binaries (<c>/usr/lib/postgresql/*/bin</c>) in a temporary
/// folder and stopped at the end. Each test class gets a database of its own on it.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string? dataDir;
    private string? binDir;
    private bool asPostgresUser;

    public string? ConnectionString { get; private set; }
    public string? UnavailableReason { get; private set; }

    /// <summary>The throwaway server's log file (null for a server named by <c>BACKSTOP_TEST_POSTGRES</c>).</summary>
    public string? LogFile => dataDir is null ? null : Path.Combine(dataDir, "server.log");

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public async ValueTask InitializeAsync()
    {
        var given = Environment.GetEnvironmentVariable("BACKSTOP_TEST_POSTGRES");
        try
        {
            if (!string.IsNullOrWhiteSpace(given))
            {
                ConnectionString = given;
            }
            else
            {
                ConnectionString = await StartThrowawayAsync();
            }
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
        }
        catch (Exception e)
        {
            UnavailableReason = $"PostgreSQL is not available for tests: {e.Message}";
            ConnectionString = null;
            await Console.Error.WriteLineAsync("!!! " + UnavailableReason + (InCi ? " (CI=true: PostgreSQL tests FAIL)" : " (PostgreSQL tests are SKIPPED)"));
        }
    }

    public async Task<string> CreateDatabaseAsync()
    {
        if (ConnectionString is null)
            throw new InvalidOperationException(UnavailableReason ?? "PostgreSQL is not available.");
        var name = "bt_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"create database {name}", connection);
            await command.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name, MaxPoolSize = 40 }.ConnectionString;
    }

    private async Task<string> StartThrowawayAsync()
    {
        binDir = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => d, StringComparer.Ordinal)
                .FirstOrDefault()
            : null;
        if (binDir is null) throw new InvalidOperationException("no /usr/lib/postgresql/*/bin/initdb on this machine and BACKSTOP_TEST_POSTGRES is not set");

        // initdb refuses to run as root: run the server as the postgres user then.
        asPostgresUser = Environment.UserName == "root";
        dataDir = Path.Combine(Path.GetTempPath(), "backstop-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dataDir);
        if (asPostgresUser)
        {
            await RunAsync("/usr/bin/getent", ["passwd", "postgres"], allowFailure: true).ContinueWith(async t =>
            {
                if (t.Result != 0) await RunAsync("/usr/sbin/useradd", ["--system", "--no-create-home", "postgres"]);
            }).Unwrap();
            await RunAsync("/bin/chown", ["postgres", dataDir]);
        }

        var pgData = Path.Combine(dataDir, "data");
        await RunPgAsync("initdb", ["-D", pgData, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        // The port is probed free here and bound by the server later: if another socket took it in between, the
        // server cannot bind and pg_ctl fails; then again on another port.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            try
            {
                await RunPgAsync("pg_ctl", ["-D", pgData, "-l", Path.Combine(dataDir, "server.log"), "-w", "-t", "60", "-o",
                    $"-p {port} -k {dataDir} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start"]);
                return $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=30;Command Timeout=60";
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                await RunPgAsync("pg_ctl", ["-D", pgData, "-m", "immediate", "-w", "stop"], allowFailure: true);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (dataDir is null || binDir is null) return;
        try
        {
            await RunPgAsync("pg_ctl", ["-D", Path.Combine(dataDir, "data"), "-m", "immediate", "-w", "stop"], allowFailure: true);
            // A mark in the log: a host's "connection refused" after it is noise of the end; before it, a real outage.
            await Console.Error.WriteLineAsync($"--- {DateTimeOffset.UtcNow:HH:mm:ss} the tests' PostgreSQL server stopped (assembly cleanup, every test class done)");
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private Task<int> RunPgAsync(string tool, string[] args, bool allowFailure = false) =>
        asPostgresUser
            ? RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(binDir!, tool), .. args], allowFailure)
            : RunAsync(Path.Combine(binDir!, tool), args, allowFailure);

    private static async Task<int> RunAsync(string file, string[] args, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && !allowFailure)
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}{await stdout}");
        return process.ExitCode;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
