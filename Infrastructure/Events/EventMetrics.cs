using Prometheus;

namespace Backstop.Infrastructure.Events;

internal static class EventMetrics
{
    public static readonly Counter Created = Metrics.CreateCounter("backstop_events_created_total", "Outbound events written (in the transaction of their change; counted when written, so a rolled-back change's event is counted too), by type.", "type");
}
