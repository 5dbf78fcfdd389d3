using Backstop.Infrastructure.Jobs;
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
