using System.Collections.Concurrent;
using System.Globalization;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Requests per tenant key and minute (<c>ApiKeys:RequestsPerMinute</c>), and a lower limit for the endpoints that call
/// a payment provider on the caller's behalf (<c>ApiKeys:ProviderRequestsPerMinute</c>): a leaked key cannot spend
/// the operator's provider quota or crowd out other tenants. A sliding window as Unkey and Cloudflare count it: the
/// current minute's count plus the previous minute's weighted by how much of it still lies inside the last 60
/// seconds, so a burst at a minute's edge cannot pass twice the limit.
/// <para>In memory, per instance: with N instances behind a balancer spreading a key's requests, the key gets up to N
/// times the limit (one instance: exact). The database is not asked per request: this sits on the hot path the
/// authentication cache was built for, and what it prevents (a flood) is what a database round-trip per request
/// would make worse. Not <c>System.Threading.RateLimiting</c>'s partitioned limiters: they read their own clock,
/// not <see cref="TimeProvider"/>, so neither tests nor the window could be reasoned about in business time; this is
/// one dictionary lookup (no allocation once the key's window exists) and a short lock per request.</para>
/// </summary>
internal sealed class KeyRateLimits(IOptions<ApiKeysOptions> options, TimeProvider time)
{
    public const string Code = "rate_limited";

    private static readonly long WindowTicks = TimeSpan.TicksPerMinute;

    private readonly ConcurrentDictionary<string, Window> general = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Window> provider = new(StringComparer.Ordinal);
    private long nextSweep;

    private sealed class Window
    {
        public long Start;
        public int Current;
        public int Previous;
    }

    /// <summary>The outcome: allowed, or refused with the seconds until a request would be allowed again.</summary>
    public readonly record struct Decision(bool Allowed, int Limit, int Remaining, int RetryAfterSeconds, bool ProviderLimit);

    public Decision Take(string keyId, bool callsProvider)
    {
        var o = options.Value;
        var now = time.GetUtcNow().UtcTicks;
        SweepIfDue(now);
        var decision = Take(general, keyId, o.RequestsPerMinute, now);
        if (!decision.Allowed || !callsProvider) return decision;
        var narrow = Take(provider, keyId, o.ProviderRequestsPerMinute, now);
        return narrow.Allowed ? narrow : narrow with { ProviderLimit = true };
    }

    private static Decision Take(ConcurrentDictionary<string, Window> windows, string keyId, int limit, long now)
    {
        var window = windows.GetOrAdd(keyId, static _ => new Window());
        var start = now - now % WindowTicks;
        lock (window)
        {
            if (window.Start != start)
            {
                // One window later the current count becomes the previous one; more than one later, both are empty.
                window.Previous = window.Start == start - WindowTicks ? window.Current : 0;
                window.Current = 0;
                window.Start = start;
            }
            var elapsed = (double)(now - start) / WindowTicks;
            var estimate = window.Previous * (1 - elapsed) + window.Current;
            if (estimate + 1 <= limit)
            {
                window.Current++;
                return new Decision(true, limit, (int)Math.Max(0, Math.Floor(limit - estimate - 1)), 0, false);
            }

            // The earliest moment the estimate leaves room for one more: within this window, as the previous
            // minute's weight fades, if this window's own count leaves room; else once the window ends.
            double waitTicks;
            if (window.Current + 1 <= limit && window.Previous > 0)
                waitTicks = (1 - (limit - window.Current - 1.0) / window.Previous - elapsed) * WindowTicks;
            else
                // Into the next window, where this window's count becomes the weighted previous one.
                waitTicks = start + WindowTicks - now + Math.Max(0, 1 - (limit - 1.0) / Math.Max(1, window.Current)) * WindowTicks;
            var seconds = (int)Math.Ceiling(Math.Max(waitTicks, 0) / TimeSpan.TicksPerSecond);
            return new Decision(false, limit, 0, Math.Max(1, seconds), false);
        }
    }

    /// <summary>Forgets keys idle for two windows, at most once a minute, so the dictionaries hold only keys in use.</summary>
    private void SweepIfDue(long now)
    {
        var due = Interlocked.Read(ref nextSweep);
        if (now < due || Interlocked.CompareExchange(ref nextSweep, now + WindowTicks, due) != due) return;
        var stale = now - now % WindowTicks - WindowTicks;
        foreach (var windows in new[] { general, provider })
            foreach (var (key, window) in windows)
                if (Volatile.Read(ref window.Start) < stale) windows.TryRemove(key, out _);
    }

    /// <summary>
    /// The endpoints that call a payment provider (Stripe/Paddle) synchronously for the caller: the plan-change
    /// preview and request, and checkout. Matched by path, which needs no endpoint metadata from the Billing slice.
    /// </summary>
    public static bool CallsProvider(HttpRequest request) =>
        (request.Path.Equals("/v1/billing/plan-change", StringComparison.OrdinalIgnoreCase) && (HttpMethods.IsGet(request.Method) || HttpMethods.IsPost(request.Method)))
        || (request.Path.Equals("/v1/billing/checkout", StringComparison.OrdinalIgnoreCase) && HttpMethods.IsPost(request.Method));

    /// <summary>
    /// 429 <c>rate_limited</c> with <c>Retry-After</c> and the IETF draft's <c>RateLimit-Policy</c> / <c>RateLimit</c>
    /// (draft-ietf-httpapi-ratelimit-headers: a named policy with quota <c>q</c> and window <c>w</c>; remaining
    /// <c>r</c> and seconds to reset <c>t</c>). Only refusals carry them: writing them on every answer would cost the
    /// hot path a few strings per request for information a client needs only when it is refused.
    /// </summary>
    public static Task RefuseAsync(HttpContext context, Decision decision)
    {
        var policy = decision.ProviderLimit ? "provider" : "default";
        var retryAfter = decision.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>
        {
            ["Retry-After"] = retryAfter,
            ["RateLimit-Policy"] = $"\"{policy}\";q={decision.Limit.ToString(CultureInfo.InvariantCulture)};w=60",
            ["RateLimit"] = $"\"{policy}\";r=0;t={retryAfter}",
        };
        var detail = decision.ProviderLimit
            ? $"This API key may call endpoints that reach the payment provider at most {decision.Limit} times a minute."
            : $"This API key may make at most {decision.Limit} requests a minute.";
        return Problem.WriteAsync(context, 429, Code, detail, headers: headers);
    }
}
