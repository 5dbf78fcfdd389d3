using System.Diagnostics;
using System.Net.Sockets;
using System.Reflection;
using Backstop.Infrastructure.Configuration;
using Microsoft.Extensions.Configuration;

namespace Backstop.Tests.Infrastructure;

/// <summary>The built binary run as a process, the way an operator or a container HEALTHCHECK runs it.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string workDir = Directory.CreateTempSubdirectory("backstop-cli-").FullName;

    private static string Binary => Path.Combine(AppContext.BaseDirectory, "backstop.dll");

    public void Dispose() => Directory.Delete(workDir, recursive: true);

    private sealed record Result(int ExitCode, string Out, string Error);

    private async Task<Result> RunAsync(IEnumerable<string> args, IDictionary<string, string>? env = null, string? binary = null)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(binary ?? Binary);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // The service must never start from these tests: a database would appear in the work directory.
        start.Environment["Database__ConnectionString"] = $"Data Source={Path.Combine(workDir, "must-not-exist.db")}";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("BACKSTOP_HEALTHCHECK_URL");
        foreach (var (key, value) in env ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"backstop {string.Join(' ', args)} did not exit within 60 s (it started the service?): {await stdout}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("help")]
    [InlineData("-h")]
    [InlineData("migrate --help")]
    public async Task Help_prints_usage_and_exits_0_without_starting_the_service(string args)
    {
        var result = await RunAsync(args.Split(' '));
        result.ExitCode.ShouldBe(0, result.Error);
        result.Out.ShouldContain("Usage: backstop");
        result.Out.ShouldContain("serve");
        result.Out.ShouldContain("migrate");
        result.Out.ShouldContain("healthcheck [url]");
        result.Out.ShouldContain("Database:Provider");
        File.Exists(Path.Combine(workDir, "must-not-exist.db")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("pigeon")]
    [InlineData("migarte")]
    public async Task An_unknown_command_exits_2_with_usage_and_starts_nothing(string verb)
    {
        var result = await RunAsync([verb]);
        result.ExitCode.ShouldBe(2);
        result.Error.ShouldContain($"Unknown command '{verb}'");
        result.Error.ShouldContain("Usage: backstop");
        File.Exists(Path.Combine(workDir, "must-not-exist.db")).ShouldBeFalse();
    }

    /// <summary>A stand-in for a running instance: answers 200 on /health/ready and counts the probes.</summary>
    private sealed class ReadyServer : IAsyncDisposable
    {
        private readonly HttpListener listener;
        private readonly Task loop;
        public int Port { get; }
        public int Probes;

        public ReadyServer()
        {
            // A free port probed here may be taken by another socket before the listener binds it: then another one.
            for (var attempt = 1; ; attempt++)
            {
                Port = FreePort();
                var candidate = new HttpListener();
                candidate.Prefixes.Add($"http://127.0.0.1:{Port}/");
                try
                {
                    candidate.Start();
                    listener = candidate;
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                    candidate.Close();
                }
            }
            loop = Task.Run(async () =>
            {
                while (listener.IsListening)
                {
                    HttpListenerContext context;
                    try { context = await listener.GetContextAsync(); }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
                    if (context.Request.Url?.AbsolutePath == "/health/ready") Interlocked.Increment(ref Probes);
                    context.Response.StatusCode = context.Request.Url?.AbsolutePath == "/health/ready" ? 200 : 404;
                    context.Response.Close();
                }
            });
        }

        public async ValueTask DisposeAsync()
        {
            listener.Stop();
            listener.Close();
            await loop;
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Healthcheck_probes_the_address_given_with_urls()
    {
        await using var server = new ReadyServer();
        var result = await RunAsync(["healthcheck", "--urls", $"http://127.0.0.1:{server.Port}"]);
        result.ExitCode.ShouldBe(0, result.Out + result.Error);
        server.Probes.ShouldBe(1);
    }

    [Fact]
    public async Task Healthcheck_probes_the_address_of_aspnetcore_urls_with_a_wildcard_host()
    {
        await using var server = new ReadyServer();
        var result = await RunAsync(["healthcheck"], new Dictionary<string, string> { ["ASPNETCORE_URLS"] = $"http://+:{server.Port}" });
        result.ExitCode.ShouldBe(0, result.Out + result.Error);
        server.Probes.ShouldBe(1);
    }

    [Fact]
    public async Task Healthcheck_probes_the_address_of_urls_in_the_working_directorys_configuration()
    {
        await using var server = new ReadyServer();
        await File.WriteAllTextAsync(Path.Combine(workDir, "appsettings.json"), JsonSerializer.Serialize(new { urls = $"http://0.0.0.0:{server.Port}" }));
        var result = await RunAsync(["healthcheck"]);
        result.ExitCode.ShouldBe(0, result.Out + result.Error);
        server.Probes.ShouldBe(1);
    }

    [Fact]
    public async Task Healthcheck_of_an_address_nobody_listens_on_exits_1_not_with_a_crash()
    {
        // The port stays bound without listening while the probe runs: the kernel refuses the connection, and no other
        // socket of this busy process can start listening on it meanwhile (a free port merely probed could be taken).
        using var unanswered = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        unanswered.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var result = await RunAsync(["healthcheck", "--urls", $"http://127.0.0.1:{((IPEndPoint)unanswered.LocalEndPoint!).Port}"]);
        result.ExitCode.ShouldBe(1, result.Out + result.Error);
        result.Out.ShouldContain("did not answer");
    }

    [Fact]
    public async Task The_appsettings_beside_the_binary_are_read_when_started_from_another_directory()
    {
        // A copy of the binary's directory with its own appsettings.json: the binary itself copied (the host takes
        // the application's directory from its real path), the dependencies linked.
        var binDir = Directory.CreateTempSubdirectory("backstop-bin-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(AppContext.BaseDirectory))
            {
                var name = Path.GetFileName(file);
                if (name == "appsettings.json") continue;
                if (name.StartsWith("backstop.", StringComparison.Ordinal)) File.Copy(file, Path.Combine(binDir, name));
                else File.CreateSymbolicLink(Path.Combine(binDir, name), file);
            }
            await using var server = new ReadyServer();
            await File.WriteAllTextAsync(Path.Combine(binDir, "appsettings.json"), JsonSerializer.Serialize(new { urls = $"http://127.0.0.1:{server.Port}" }));

            var result = await RunAsync(["healthcheck"], binary: Path.Combine(binDir, "backstop.dll"));

            result.ExitCode.ShouldBe(0, result.Out + result.Error);
            server.Probes.ShouldBe(1);
        }
        finally
        {
            Directory.Delete(binDir, recursive: true);
        }
    }

    public static TheoryData<string> OptionsSections()
    {
        var data = new TheoryData<string>();
        foreach (var (section, type) in OptionsTypes()) data.Add(type.FullName + " @ " + section);
        return data;
    }

    private static IEnumerable<(string Section, Type Type)> OptionsTypes() =>
        typeof(IValidatedOptions).Assembly.GetTypes()
            .Where(t => typeof(IValidatedOptions).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => (Section: t.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string, Type: t))
            .Where(x => x.Section is not null)
            .Select(x => (x.Section!, x.Type));

    /// <summary>
    /// The service must behave the same with and without its appsettings.json: each options class, bound from the
    /// file's section, equals the class's own defaults.
    /// </summary>
    [Theory]
    [MemberData(nameof(OptionsSections))]
    public void The_code_defaults_equal_appsettings_json(string options)
    {
        var (section, type) = OptionsTypes().Single(o => o.Type.FullName + " @ " + o.Section == options);
        var file = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();
        var defaults = Activator.CreateInstance(type)!;
        var bound = Activator.CreateInstance(type)!;
        file.GetSection(section).Bind(bound);
        // An empty string in the file and null in code both mean "not set".
        static string Normalized(object o, Type t) => JsonSerializer.Serialize(o, t, new JsonSerializerOptions { WriteIndented = true }).Replace("\"\"", "null");
        Normalized(bound, type).ShouldBe(Normalized(defaults, type), $"{section} in appsettings.json differs from {type.Name}'s defaults");
    }
}
