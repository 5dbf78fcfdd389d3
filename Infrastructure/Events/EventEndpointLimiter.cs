using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Per-endpoint fairness on this instance: at most <c>Events:MaxInFlightPerEndpoint</c> deliveries to one endpoint at
/// once (a partitioned concurrency limiter), and at most the endpoint's <c>rate_limit_per_second</c> deliveries per
/// second (a one-second window per endpoint and rate, on the <see cref="TimeProvider"/>).
/// Never waits: a delivery that gets no slot is deferred by the channel, so a slow endpoint's backlog never occupies
/// the dispatcher's parallel slots that other endpoints' deliveries need.
/// </summary>
internal sealed class EventEndpointLimiter(TimeProvider time, IOptions<EventsOptions> options) : IDisposable
{
    /// <summary>How soon a deferred delivery is due again.</summary>
    public static readonly TimeSpan DeferBy = TimeSpan.FromSeconds(1);

    private readonly PartitionedRateLimiter<string> inFlight = PartitionedRateLimiter.Create<string, string>(endpointId =>
        RateLimitPartition.GetConcurrencyLimiter(endpointId, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = options.Value.MaxInFlightPerEndpoint, QueueLimit = 0,
        }));

    private readonly ConcurrentDictionary<(string EndpointId, long Rate), Bucket> buckets = new();

    /// <summary>A slot for one delivery (dispose it when the delivery ends), or null with how long to defer.</summary>
    public IDisposable? TryEnter(string endpointId, long? ratePerSecond, out TimeSpan wait)
    {
        wait = DeferBy;
        var slot = inFlight.AttemptAcquire(endpointId);
        if (!slot.IsAcquired)
        {
            slot.Dispose();
            return null;
        }
        if (ratePerSecond is > 0 and var rate && !buckets.GetOrAdd((endpointId, rate), k => new Bucket(k.Rate, time.GetUtcNow())).TryTake(time.GetUtcNow(), out wait))
        {
            slot.Dispose();
            return null;
        }
        return slot;
    }

    public void Dispose()
    {
        inFlight.Dispose();
        foreach (var bucket in buckets.Values) bucket.Dispose();
    }

    /// <summary>
    /// A one-second window on the <see cref="TimeProvider"/>: <see cref="TokenBucketRateLimiter"/> measures time with the
    /// Stopwatch even when replenished by hand, which tests cannot move and which would make them timing-dependent.
    /// </summary>
    private sealed class Bucket(long rate, DateTimeOffset created) : IDisposable
    {
        private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);
        private readonly Lock gate = new();
        private DateTimeOffset windowStart = created;
        private long used;

        public bool TryTake(DateTimeOffset now, out TimeSpan wait)
        {
            lock (gate)
            {
                if (now - windowStart >= Window)
                {
                    windowStart = now;
                    used = 0;
                }
                wait = windowStart + Window - now;
                if (used >= rate) return false;
                used++;
                return true;
            }
        }

        public void Dispose() { }
    }
}
