using Prometheus;

namespace Backstop.Infrastructure.Outbox;

internal static class OutboxMetrics
{
    public static readonly Counter Enqueued = Metrics.CreateCounter("backstop_outbox_enqueued_total", "Outbox messages stored, by channel.", "channel");
    public static readonly Counter Sent = Metrics.CreateCounter("backstop_outbox_sent_total", "Outbox messages delivered, by channel.", "channel");
    public static readonly Counter Retried = Metrics.CreateCounter("backstop_outbox_retried_total", "Outbox delivery attempts that failed transiently and were scheduled again, by channel.", "channel");
    public static readonly Counter Dead = Metrics.CreateCounter("backstop_outbox_dead_total", "Outbox messages given up on (permanent failure or attempts exhausted), by channel.", "channel");
    public static readonly Gauge Pending = Metrics.CreateGauge("backstop_outbox_pending", "Outbox messages waiting for delivery (pending or being sent), by channel, as of the last sweep.", "channel");
}
