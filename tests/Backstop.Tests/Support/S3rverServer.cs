using System.Diagnostics;
using System.Net.Sockets;

namespace Backstop.Tests.Support;

/// <summary>
/// A real S3-compatible server for the storage tests: the npm package <c>s3rver</c> 3.7.1, installed by
/// <c>.ci/run</c> into <c>.tools/s3rver</c> at the repository root (or found through <c>BACKSTOP_S3RVER</c>, the path
/// of its executable), run on a free loopback port over a temporary directory, with one bucket. Without it the
/// tests are skipped with a message, except under <c>CI=true</c>, where they fail.
/// </summary>
public sealed partial class S3rverServer : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    public const string Bucket = "backstop-test";

    private Process? process;
    private string? directory;

    public string? Endpoint { get; private set; }
    public string? UnavailableReason { get; private set; }

    public static string? FindExecutable()
    {
        if (Environment.GetEnvironmentVariable("BACKSTOP_S3RVER") is { Length: > 0 } given) return File.Exists(given) ? given : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, ".tools", "s3rver", "node_modules", ".bin", "s3rver");
            if (File.Exists(candidate)) return candidate;
            if (File.Exists(Path.Combine(dir.FullName, "App.csproj"))) break;
        }
        return null;
    }

    public async Task StartAsync()
    {
        try
        {
            var executable = FindExecutable() ?? throw new InvalidOperationException(
                "s3rver is not installed (npm install --prefix .tools/s3rver s3rver@3.7.1, as .ci/run does)");
            directory = Path.Combine(Path.GetTempPath(), "backstop-s3rver-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(directory);
            // Port 0: s3rver binds a port the kernel picks and prints it ("S3rver listening on 127.0.0.1:PORT", even
            // with --silent); a port probed here and bound later could be taken by another socket in between.
            var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var start = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "-d", directory, "-a", "127.0.0.1", "-p", "0", "--silent", "--configure-bucket", Bucket })
                start.ArgumentList.Add(arg);
            process = Process.Start(start) ?? throw new InvalidOperationException("s3rver did not start");
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line && ListeningPort().Match(line) is { Success: true } match)
                    listening.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var first = await Task.WhenAny(listening.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
            if (first != listening.Task)
                throw new InvalidOperationException(process.HasExited ? $"s3rver exited with code {process.ExitCode}" : "s3rver did not report its port within 2 minutes");
            var port = await listening.Task;
            Endpoint = $"http://127.0.0.1:{port}";
        }
        catch (Exception e) when (e is InvalidOperationException or SocketException or System.ComponentModel.Win32Exception)
        {
            UnavailableReason = "s3rver is not available for tests: " + e.Message;
            if (PostgresServer.InCi) throw new InvalidOperationException(UnavailableReason + " (CI=true: S3 storage tests FAIL)", e);
            await Console.Error.WriteLineAsync("!!! " + UnavailableReason + " (S3 storage tests are SKIPPED)");
        }
    }

    /// <summary>Call at the start of a test that needs the server.</summary>
    public void SkipIfUnavailable()
    {
        if (Endpoint is null) Assert.Skip(UnavailableReason ?? "s3rver is not available.");
    }

    public void Apply(Dictionary<string, string?> settings)
    {
        settings["Storage:Provider"] = "s3";
        settings["Storage:S3:Endpoint"] = Endpoint ?? "http://127.0.0.1:1";
        settings["Storage:S3:Bucket"] = Bucket;
        settings["Storage:S3:AccessKey"] = AccessKey;
        settings["Storage:S3:SecretKey"] = SecretKey;
        settings["Storage:S3:ForcePathStyle"] = "true";
    }

    /// <summary>Where s3rver keeps an object's bytes (its own layout), to check what was really stored.</summary>
    public string? ObjectDirectory => directory is null ? null : Path.Combine(directory, Bucket);

    [System.Text.RegularExpressions.GeneratedRegex(@"S3rver listening on 127\.0\.0\.1:([0-9]+)")]
    private static partial System.Text.RegularExpressions.Regex ListeningPort();

    public async ValueTask DisposeAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process?.Dispose();
        if (directory is not null && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}
