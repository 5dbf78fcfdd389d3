using Prometheus;

namespace Backstop.Infrastructure.Observability;

/// <summary>
/// A one-label metric's known series, created at 0 where the metric is declared (by the slice that owns the label's
/// vocabulary), so they exist from the first scrape: <c>Metrics.CreateCounter(…, "scope").Seeded(PairScope, IpScope)</c>.
/// </summary>
internal static class MetricSeeds
{
    public static Counter Seeded(this Counter counter, params IEnumerable<string> values)
    {
        foreach (var value in values) counter.WithLabels(value).Inc(0);
        return counter;
    }

    public static Gauge Seeded(this Gauge gauge, params IEnumerable<string> values)
    {
        foreach (var value in values) gauge.WithLabels(value).Inc(0);
        return gauge;
    }
}
