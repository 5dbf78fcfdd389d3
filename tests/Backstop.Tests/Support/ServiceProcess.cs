using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Backstop.Tests.Support;

/// <summary>
/// The service as a real process on the test app's database (for kill -9 tests): started with the app's database
/// settings, the test admin key, no job server and warnings only, plus the caller's settings.
/// </summary>
public static partial class ServiceProcess
{
    public static Process Start(BackstopFactory app, int port, IReadOnlyDictionary<string, string> settings) =>
        Start(app, $"http://127.0.0.1:{port}", settings, _ => { });

    /// <summary>
    /// Starts the service on a port the kernel picks when it binds (<c>127.0.0.1:0</c>) and returns it with the address
    /// it listens on, read from its own "Now listening on" log line, once <c>/health/ready</c> answers 200 there. No
    /// port is probed first and bound later, so no other socket of this busy machine can take it in between (with a
    /// probed port the service could fail to bind, or another test's server holding it could answer the probe).
    /// </summary>
    public static async Task<RunningService> StartListeningAsync(BackstopFactory app, IReadOnlyDictionary<string, string> settings)
    {
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = Start(app, "http://127.0.0.1:0", new Dictionary<string, string>(settings)
        {
            // The one Information line needed: Kestrel's bound address.
            ["Serilog__MinimumLevel__Override__Microsoft.Hosting.Lifetime"] = "Information",
        }, line =>
        {
            if (line.Contains("Now listening on", StringComparison.Ordinal) && ListeningAddress().Match(line) is { Success: true } match)
                listening.TrySetResult(new Uri(match.Value));
        });
        try
        {
            // Generous: a start on this loaded machine can take long; the process ending first is reported at once.
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(listening.Task, exited, Task.Delay(TimeSpan.FromMinutes(3)));
            if (first != listening.Task)
                throw new InvalidOperationException(process.HasExited
                    ? $"The service exited with code {process.ExitCode} before listening."
                    : "The service did not report its address within 3 minutes.");
            var service = new RunningService(process, await listening.Task);
            await WaitReadyAsync(service.Http, process);
            return service;
        }
        catch
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    private static Process Start(BackstopFactory app, string urls, IReadOnlyDictionary<string, string> settings, Action<string> onOutput)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        start.Environment["ASPNETCORE_URLS"] = urls;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Database__Provider"] = app.Settings["Database:Provider"];
        start.Environment["Database__ConnectionString"] = app.Settings["Database:ConnectionString"];
        start.Environment["Admin__ApiKey"] = BackstopFactory.AdminKey;
        start.Environment["Jobs__RunServer"] = "false";
        start.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        foreach (var (key, value) in settings) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the service");
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line) onOutput(line); };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static Task WaitReadyAsync(HttpClient http) => WaitReadyAsync(http, null);

    private static async Task WaitReadyAsync(HttpClient http, Process? process)
    {
        for (var i = 0; i < 600; i++)
        {
            if (process is { HasExited: true }) throw new InvalidOperationException($"The service exited with code {process.ExitCode} before it was ready.");
            try
            {
                if ((await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100); // polling a starting process: real time, nothing of the app's clock
        }
        throw new TimeoutException("The service did not become ready within 60 s of polling.");
    }

    /// <summary>A free port now; another socket may take it before the caller binds it (prefer <see cref="StartListeningAsync"/>).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:[0-9]+")]
    private static partial Regex ListeningAddress();
}

/// <summary>A service process listening on <see cref="Address"/>, with a client for it.</summary>
public sealed class RunningService(Process process, Uri address) : IDisposable
{
    public Process Process { get; } = process;

    public Uri Address { get; } = address;

    /// <summary>A client for the service; its timeout is generous (a loaded machine can hold an answer back long).</summary>
    public HttpClient Http { get; } = new() { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };

    /// <summary>SIGKILL (the whole tree), then waits for the process to be gone.</summary>
    public async Task KillAsync()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Http.Dispose();
        Process.Dispose();
    }
}
