namespace Backstop.Infrastructure.Security;

/// <summary>Re-reads the stored admin key hash every <see cref="AdminKey.RefreshInterval"/> (real time: it paces polling), so a rotation made by <c>backstop admin-key rotate</c> revokes the old key on running instances.</summary>
internal sealed class AdminKeyRefresher(AdminKey key, ILogger<AdminKeyRefresher> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (key.IsConfigured) return;
        using var timer = new PeriodicTimer(AdminKey.RefreshInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await key.RefreshAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogWarning(e, "Could not re-read the admin key hash; keeping the one in use");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
