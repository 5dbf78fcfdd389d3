using System.Text;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Storage.SQLite;

namespace Backstop.Infrastructure.Jobs;

/// <summary>Registers every recurring job with Hangfire at start, with its configured or default schedule.</summary>
internal sealed class RecurringJobScheduler(
    IRecurringJobManager manager,
    IEnumerable<RecurringJobDefinition> definitions,
    IOptions<JobsOptions> options,
    ILogger<RecurringJobScheduler> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var definition in definitions)
        {
            var cron = JobSchedule.Of(definition, options.Value);
            if (JobSchedule.IsDisabled(cron))
            {
                manager.RemoveIfExists(definition.Id);
                log.LogInformation("Recurring job {JobId} is disabled by configuration", definition.Id);
                continue;
            }
            var id = definition.Id;
            manager.AddOrUpdate<JobRunner>(id, r => r.RunScheduledAsync(id, CancellationToken.None), cron,
                new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc });
            log.LogInformation("Recurring job {JobId} scheduled at {Cron} (UTC)", id, cron);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
