using System.Globalization;
using System.Text;

namespace Backstop.Infrastructure.Stats;

/// <summary>What an hourly count counts (the <c>kind</c> column).</summary>
internal static class HourlyCountKinds
{
    /// <summary>Webhook deliveries by provider; outcome at receipt: processed, ignored, failed, dead, duplicate.</summary>
    public const string Webhook = "webhook";
    /// <summary>Outbox delivery attempts by channel; outcome as <c>outbox_attempts</c>: sent, retry, permanent_failure, attempts_exhausted.</summary>
    public const string Outbox = "outbox";
    /// <summary>Outbound event delivery attempts (subject <c>all</c>); outcome as the delivery log: sent, failed, refused.</summary>
    public const string EventDelivery = "event_delivery";

    public static readonly IReadOnlyList<string> All = [Webhook, Outbox, EventDelivery];

    /// <summary>The subject of counts that are not broken down (event deliveries).</summary>
    public const string AllSubjects = "all";
}
