using Backstop.Infrastructure.Jobs;
using Prometheus;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Every five minutes: deletes delivery-log rows older than <c>Events:AttemptRetentionDays</c> (in bounded
/// batches) and refreshes the endpoint-state and oldest-undelivered gauges.
/// </summary>
internal sealed class EventDeliverySweepJob(Db db, TimeProvider time, IOptions<EventsOptions> options, JobContext context) : IRecurringJob
{
    private const int BatchSize = 1000;

    public static string Id => "event-delivery-sweep";
    public static string DefaultCron => "*/5 * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var deleted = await db.DeleteInBatchesAsync(
            """
            delete from event_delivery_attempts
            where id in (select id from event_delivery_attempts where started_at < @cutoff order by started_at limit @batchSize)
            """, new { cutoff = now.AddDays(-options.Value.AttemptRetentionDays) }, BatchSize, context.Stop, ct);
        await RefreshGaugesAsync(db, now, ct);
        return deleted;
    }

    public static async Task RefreshGaugesAsync(Db db, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var counts = await connection.QuerySingleAsync<(long? Enabled, long? Disabled, long? Failing)>(new CommandDefinition(
            """
            select sum(case when enabled = @yes and failing_since is null then 1 else 0 end),
                   sum(case when enabled = @yes then 0 else 1 end),
                   sum(case when enabled = @yes and failing_since is not null then 1 else 0 end)
            from event_endpoints where deleted_at is null
            """, new { yes = true }, cancellationToken: ct));
        EventDeliveryMetrics.Endpoints.WithLabels("enabled").Set(counts.Enabled ?? 0);
        EventDeliveryMetrics.Endpoints.WithLabels("disabled").Set(counts.Disabled ?? 0);
        EventDeliveryMetrics.Endpoints.WithLabels("failing").Set(counts.Failing ?? 0);
        var oldest = await connection.QuerySingleOrDefaultAsync<DateTimeOffset?>(new CommandDefinition(
            "select created_at from outbox_messages where channel = @channel and status in ('pending', 'sending') order by created_at limit 1",
            new { channel = EventDelivery.Channel }, cancellationToken: ct));
        EventDeliveryMetrics.OldestUndeliveredSeconds.Set(oldest is { } o ? Math.Max(0, (now - o).TotalSeconds) : 0);
    }
}
