using Prometheus;

namespace Backstop.Infrastructure.Outbox;

/// <summary>Wakes the dispatch loop of this instance. Notifications coalesce: many enqueues, one wake-up.</summary>
internal sealed class OutboxSignal
{
    private readonly SemaphoreSlim semaphore = new(0, 1);

    public void Notify()
    {
        try
        {
            semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the pending wake-up will see this message too.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => semaphore.WaitAsync(timeout, ct);
}
