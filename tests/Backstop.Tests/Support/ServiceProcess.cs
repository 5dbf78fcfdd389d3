using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Backstop.Tests.Support;

/// <summary>
/// The service as a real process on the test app's database (for kill -9 tests): started with the app's database
/// settings, the test admin key, no job server and warnings only, plus the caller's settings.
/// </summary>
public static class ServiceProcess
{
    public static Process Start(BackstopFactory app, int port, IReadOnlyDictionary<string, string> settings)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Database__Provider"] = app.Settings["Database:Provider"];
        start.Environment["Database__ConnectionString"] = app.Settings["Database:ConnectionString"];
        start.Environment["Admin__ApiKey"] = BackstopFactory.AdminKey;
        start.Environment["Jobs__RunServer"] = "false";
        start.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        foreach (var (key, value) in settings) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the service");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static async Task WaitReadyAsync(HttpClient http)
    {
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100); // polling a starting process: real time, nothing of the app's clock
        }
        throw new TimeoutException("The service did not become ready within 30 s.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
