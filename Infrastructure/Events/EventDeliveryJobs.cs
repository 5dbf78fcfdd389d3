using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Dapper;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Backstop.Infrastructure.Events;

internal static class EventDeliveryMetrics
{
    public static readonly Counter Deliveries = Metrics.CreateCounter("backstop_event_deliveries_total",
        "Event delivery attempts by outcome: sent (2xx), failed (another answer, timeout, transport error), refused (forbidden target address), skipped (endpoint deleted or disabled), deferred (endpoint at its concurrency or rate limit; not an attempt).", "outcome");

    public static readonly Histogram DeliverySeconds = Metrics.CreateHistogram("backstop_event_delivery_seconds",
        "Seconds from an event's commit (occurred_at) to its 2xx at an endpoint.",
        new HistogramConfiguration { Buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 86400] });

    public static readonly Gauge Endpoints = Metrics.CreateGauge("backstop_event_endpoints",
        "Event endpoints (not deleted) by state: enabled, disabled, failing (enabled with deliveries failing now), as of the last event-delivery sweep.", "state");

    public static readonly Gauge OldestUndeliveredSeconds = Metrics.CreateGauge("backstop_event_oldest_undelivered_seconds",
        "Age of the oldest event delivery still pending (or being sent), 0 when none, as of the last event-delivery sweep.");
}

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
