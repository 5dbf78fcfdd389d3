using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Per-endpoint fairness on this instance: at most <c>Events:MaxInFlightPerEndpoint</c> deliveries to one endpoint at
/// once (a partitioned concurrency limiter), and at most the endpoint's <c>rate_limit_per_second</c> deliveries per
/// second (a token bucket per endpoint and rate, replenished on the <see cref="TimeProvider"/> so tests can move it).
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

    private sealed class Bucket(long rate, DateTimeOffset created) : IDisposable
    {
        private readonly TokenBucketRateLimiter limiter = new(new TokenBucketRateLimiterOptions
        {
            TokenLimit = (int)Math.Min(rate, int.MaxValue),
            TokensPerPeriod = (int)Math.Min(rate, int.MaxValue),
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = false,
        });

        private DateTimeOffset replenished = created;

        public bool TryTake(DateTimeOffset now, out TimeSpan wait)
        {
            lock (this)
            {
                if (now - replenished >= TimeSpan.FromSeconds(1))
                {
                    limiter.TryReplenish();
                    replenished = now;
                }
                using var lease = limiter.AttemptAcquire();
                var remaining = TimeSpan.FromSeconds(1) - (now - replenished);
                wait = remaining > TimeSpan.FromMilliseconds(50) ? remaining : TimeSpan.FromMilliseconds(50);
                return lease.IsAcquired;
            }
        }

        public void Dispose() => limiter.Dispose();
    }
}
