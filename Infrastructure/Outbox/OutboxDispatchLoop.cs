namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// Delivers promptly: wakes when this instance enqueues a message, and otherwise polls every
/// <c>Outbox:PollIntervalMilliseconds</c> (which also catches messages enqueued by other instances, retries that
/// became due, and rows whose commit landed after the wake-up). Waits use the real clock: they pace the loop, they
/// are not business time.
/// </summary>
internal sealed class OutboxDispatchLoop(
    OutboxDispatcher dispatcher, OutboxSignal signal, IOptions<OutboxOptions> options, ILogger<OutboxDispatchLoop> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.DispatcherEnabled)
        {
            log.LogInformation("Outbox dispatcher disabled on this instance (Outbox:DispatcherEnabled=false); the sweep job still delivers");
            return;
        }

        var interval = TimeSpan.FromMilliseconds(options.Value.PollIntervalMilliseconds);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await dispatcher.DispatchDueAsync(stoppingToken);
                failures = 0;
                await signal.WaitAsync(interval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Database unreachable and the like: back off up to a minute, keep the loop alive.
                failures++;
                log.LogError(e, "Outbox dispatch round failed ({Failures} in a row)", failures);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(60_000, interval.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 10)))), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
