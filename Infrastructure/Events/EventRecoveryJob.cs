using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Works the running recoveries (<c>POST …/event-endpoints/{id}/recover</c>) in bounded batches of
/// <see cref="EventRedeliveries.BatchSize"/> events, oldest recovery first. A run gives each recovery at most
/// <see cref="BatchesPerRecovery"/> batches before the next one, so one huge recovery cannot starve the others;
/// whatever is left is the next run's. Stops at a batch boundary when the run loses its lease.
/// </summary>
internal sealed class EventRecoveryJob(EventRedeliveries redeliveries, JobContext context) : IRecurringJob
{
    public const int BatchesPerRecovery = 20;

    public static string Id => "event-recovery";
    public static string DefaultCron => "* * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        long enqueued = 0;
        foreach (var recovery in await redeliveries.RunningAsync(100, ct))
        {
            for (var batch = 0; batch < BatchesPerRecovery && !context.Stop.IsCancellationRequested; batch++)
            {
                var (count, finished) = await redeliveries.ProcessBatchAsync(recovery, ct);
                enqueued += count;
                if (finished) break;
            }
        }
        return enqueued;
    }
}
