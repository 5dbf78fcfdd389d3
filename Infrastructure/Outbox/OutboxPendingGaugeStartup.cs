namespace Backstop.Infrastructure.Outbox;

internal sealed class OutboxPendingGaugeStartup(OutboxPendingGauge gauge, ILogger<OutboxPendingGaugeStartup> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await gauge.RefreshAsync(cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException)
        {
            // A metric is not worth failing the start over; the next sweep sets it.
            log.LogWarning("Could not read the outbox backlog for backstop_outbox_pending at start-up: {Error}", e.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
