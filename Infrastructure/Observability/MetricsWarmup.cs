using System.Reflection;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Prometheus;

namespace Backstop.Infrastructure.Observability;

/// <summary>
/// Every metric exists from the first scrape, so an alert on <c>rate(…)</c> or <c>increase(…)</c> works before the
/// first event: at start, each metric the assembly declares (a static field holding a prometheus-net collector) is
/// created, and each series whose label values are known here is created at 0 — providers, outbox channels, job ids
/// and outcomes, event types and delivery outcomes, endpoint states. A label whose values are data (a quota metric's
/// name) gets its series with the first count. docs/metrics.md lists them; <c>MetricsTableTests</c> holds the two equal.
/// </summary>
internal sealed class MetricsWarmup(IEnumerable<IOutboxChannel> channels, IEnumerable<RecurringJobDefinition> jobs) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Warm();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Label values known before anything happened: by <c>metric:label</c>, else by label name.</summary>
    private Dictionary<string, IReadOnlyList<string>> KnownValues() => new(StringComparer.Ordinal)
    {
        ["provider"] = Enum.GetValues<WebhookRoute>().Select(WebhookProviders.ProviderOf).Distinct().ToList(),
        ["channel"] = channels.Select(c => c.Name).Distinct().ToList(),
        ["job"] = jobs.Select(j => j.Id).Distinct().ToList(),
        ["type"] = EventTypes.All.Keys.ToList(),
        ["backstop_job_runs_total:outcome"] = [JobRunner.Succeeded, JobRunner.Failed, JobRunner.Skipped, JobRunner.Interrupted],
        ["backstop_webhooks_processed_total:outcome"] = [WebhookStatus.Processed, WebhookStatus.Ignored],
        ["backstop_event_deliveries_total:outcome"] =
            [EventAttemptOutcome.Sent, EventAttemptOutcome.Failed, EventAttemptOutcome.Refused, EventAttemptOutcome.Skipped, "deferred"],
        ["backstop_event_endpoints:state"] = ["enabled", "disabled", "failing"],
        ["backstop_cleanup_items_total:sweep"] = jobs.Where(j => j.Kind == JobKind.Cleanup).Select(j => j.Id).Distinct().ToList(),
    };

    public void Warm()
    {
        var known = KnownValues();
        foreach (var collector in Declared())
        {
            var values = collector.LabelNames
                .Select(label => known.GetValueOrDefault(collector.Name + ":" + label) ?? known.GetValueOrDefault(label))
                .ToList();
            if (values.Count == 0 || values.Any(v => v is null or { Count: 0 })) continue;
            foreach (var combination in Combinations(values!))
            {
                switch (collector)
                {
                    case Counter counter: counter.WithLabels(combination).Inc(0); break;
                    case Gauge gauge: gauge.WithLabels(combination).Inc(0); break;
                    case Histogram histogram: _ = histogram.WithLabels(combination); break;
                }
            }
        }
    }

    /// <summary>The collectors held in static fields of this assembly's types (reading a field runs its class constructor).</summary>
    internal static IEnumerable<Collector> Declared() =>
        typeof(MetricsWarmup).Assembly.GetTypes()
            .Where(t => !t.IsGenericTypeDefinition)
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
            .Where(f => typeof(Collector).IsAssignableFrom(f.FieldType))
            .Select(f => f.GetValue(null))
            .OfType<Collector>();

    private static IEnumerable<string[]> Combinations(IReadOnlyList<IReadOnlyList<string>> values)
    {
        IEnumerable<string[]> result = [[]];
        foreach (var options in values)
            result = result.SelectMany(prefix => options.Select(o => (string[])[.. prefix, o])).ToList();
        return result;
    }
}
