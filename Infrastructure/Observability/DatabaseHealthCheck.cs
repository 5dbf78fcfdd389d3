using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Backstop.Infrastructure.Observability;

/// <summary>Ready when the database answers and every migration this binary carries is recorded.</summary>
internal sealed class DatabaseHealthCheck(Db db, Migrator migrator) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await using var connection = await db.OpenAsync(timeout.Token);
            var pending = await migrator.PendingAsync(connection, timeout.Token);
            return pending.Count == 0
                ? HealthCheckResult.Healthy($"{db.Dialect} reachable, {migrator.Migrations.Count} migrations applied.")
                : HealthCheckResult.Unhealthy($"Migrations not applied: {string.Join(", ", pending)}.");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The exception type only: connection errors can carry the connection string's host and user.
            return HealthCheckResult.Unhealthy($"{db.Dialect} database unreachable ({e.GetType().Name}).");
        }
    }
}
