using System.Diagnostics;
using System.Text;

namespace Backstop.Tests.Support;

/// <summary>
/// An npm package some tests run (a client generator, a linter), at an exact version, installed into
/// <c>.tools/&lt;directory&gt;</c> at the repository root: by <c>.ci/run</c>, or here on first use when it is absent, so
/// <c>dotnet test</c> alone works on a machine with <c>npm</c>. A failed install fails the test (it is never skipped):
/// the check it stands for would otherwise pass unseen.
/// </summary>
public sealed class NpmTool(string directory, string[] packages, string[] executables)
{
    /// <summary>Generates a TypeScript client from the API description and type-checks a program using it.</summary>
    public static readonly NpmTool OpenApiTypeScript = new("openapi-ts",
        ["openapi-typescript@7.13.0", "openapi-fetch@0.17.0", "typescript@5.9.3"], ["openapi-typescript", "tsc"]);

    /// <summary>Redocly's OpenAPI linter.</summary>
    public static readonly NpmTool RedoclyCli = new("redocly", ["@redocly/cli@2.77.0"], ["redocly"]);

    private readonly SemaphoreSlim installing = new(1, 1);

    /// <summary>The directory the packages are installed in (its <c>node_modules</c> resolves imports below it).</summary>
    public string Directory { get; } = Path.Combine(RepositoryRoot(), ".tools", directory);

    public string Executable(string name) => Path.Combine(Directory, "node_modules", ".bin", name);

    public async Task EnsureInstalledAsync()
    {
        await installing.WaitAsync();
        try
        {
            if (executables.All(e => File.Exists(Executable(e)))) return;
            // The same command .ci/run gives.
            var run = await RunAsync("npm",
                ["install", "--prefix", Directory, "--no-save", "--no-audit", "--no-fund", "--loglevel=error", .. packages],
                RepositoryRoot(), TimeSpan.FromMinutes(10));
            var missing = executables.Where(e => !File.Exists(Executable(e))).ToList();
            if (run.Exit != 0 || missing.Count > 0)
                throw new InvalidOperationException(
                    $"npm install --prefix .tools/{directory} {string.Join(' ', packages)} failed (missing {string.Join(", ", missing)}): {run}");
        }
        finally
        {
            installing.Release();
        }
    }

    /// <summary>What a run of a tool answered.</summary>
    public sealed record Run(int Exit, string StandardOutput, string StandardError)
    {
        public override string ToString() => $"exit {Exit}\n{StandardOutput}\n{StandardError}";
    }

    /// <summary>Runs one of the package's executables.</summary>
    public async Task<Run> RunToolAsync(string name, IEnumerable<string> arguments, string workingDirectory,
        TimeSpan? timeout = null)
    {
        await EnsureInstalledAsync();
        return await RunAsync(Executable(name), arguments, workingDirectory, timeout ?? TimeSpan.FromMinutes(5));
    }

    public static async Task<Run> RunAsync(string file, IEnumerable<string> arguments, string workingDirectory,
        TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // No update checks or telemetry calls from the tools.
        start.Environment["REDOCLY_TELEMETRY"] = "off";
        start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
        start.Environment["NO_UPDATE_NOTIFIER"] = "1";
        var output = new StringBuilder();
        var error = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} did not finish within {timeout}: {output}{error}");
        }
        process.WaitForExit(); // the output events are flushed
        lock (output)
        {
            lock (error) return new Run(process.ExitCode, output.ToString(), error.ToString());
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "App.csproj"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (App.csproj) is not above " + AppContext.BaseDirectory);
    }
}
