using System.Text;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;

namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// Runs a Hangfire server over our storage when <c>Jobs:RunServer</c> is on. Decided at start rather than at
/// registration, so configuration applied late (tests, environment) is honoured.
/// </summary>
internal sealed class HangfireServerHost(
    IServiceScopeFactory scopes, JobStorage storage, IOptions<JobsOptions> options, ILogger<HangfireServerHost> log)
    : IHostedService, IDisposable
{
    private BackgroundJobServer? server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.RunServer)
        {
            log.LogInformation("Hangfire server disabled on this instance (Jobs:RunServer=false)");
            return Task.CompletedTask;
        }
        server = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            WorkerCount = options.Value.WorkerCount,
            ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}",
            Activator = new Hangfire.AspNetCore.AspNetCoreJobActivator(scopes),
            SchedulePollingInterval = TimeSpan.FromSeconds(options.Value.PollIntervalSeconds),
        }, storage);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (server is null) return;
        server.SendStop();
        await server.WaitForShutdownAsync(cancellationToken);
    }

    public void Dispose() => server?.Dispose();
}
