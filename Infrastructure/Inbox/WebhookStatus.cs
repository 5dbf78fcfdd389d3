using Prometheus;

namespace Backstop.Infrastructure.Inbox;

internal static class WebhookStatus
{
    public const string Received = "received";
    public const string Processing = "processing";
    public const string Processed = "processed";
    public const string Ignored = "ignored";
    public const string Failed = "failed";
    public const string Dead = "dead";

    public static readonly string[] All = [Received, Processing, Processed, Ignored, Failed, Dead];
}
