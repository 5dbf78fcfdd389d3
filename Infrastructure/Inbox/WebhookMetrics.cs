using Prometheus;

namespace Backstop.Infrastructure.Inbox;

internal static class WebhookMetrics
{
    public static readonly Counter Received = Metrics.CreateCounter("backstop_webhooks_received_total", "Webhook deliveries stored (first delivery of an event).", "provider");
    public static readonly Counter Duplicate = Metrics.CreateCounter("backstop_webhooks_duplicate_total", "Webhook deliveries of an event already stored.", "provider");
    public static readonly Counter Rejected = Metrics.CreateCounter("backstop_webhooks_rejected_total", "Webhook deliveries refused: bad, stale or missing signature or token.", "provider");
    public static readonly Counter Processed = Metrics.CreateCounter("backstop_webhooks_processed_total", "Webhook events processed (ignored ones included, with outcome=ignored).", "provider", "outcome");
    public static readonly Counter Failed = Metrics.CreateCounter("backstop_webhooks_failed_total", "Webhook processing attempts that failed.", "provider");
    public static readonly Counter Dead = Metrics.CreateCounter("backstop_webhooks_dead_total", "Webhook events given up after Webhooks:MaxAttempts.", "provider");
}
