using System.Collections.Concurrent;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Observability;
using Prometheus;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Failed authentications counted in the database, so every instance sees the same counts and a restart forgets
/// nothing. Two counters per failure, each an exact sliding window: the client address + key prefix, and the client
/// address alone. Every failure is one row in <c>auth_failure_events</c>; a counter locks when the failures of the
/// last <see cref="LockoutOptions.WindowMinutes"/> (this one included) reach its limit. The counter's row in
/// <c>auth_failures</c> holds the lock (<c>locked_until</c>) and is the row lock that serialises concurrent failures:
/// it is upserted first, then the events are counted, all in one short transaction, so each failure counts the ones
/// committed before it and exactly one of them sees the count reach the limit (and logs the warning).
/// </summary>
/// <remarks>
/// Failures are always counted in the database, so the limit stays exact across instances. "Not locked" answers
/// are remembered per address and prefix for <see cref="ApiKeysOptions.CacheSeconds"/>: a valid key of a busy
/// client is checked against the database once per interval, not twice per request. A failure from an address
/// counted here forgets what was remembered for that address before and after its transaction, so on this instance
/// the next check (and the re-check of a request that raced with the failure) reads the database; a lock set through
/// another instance is seen here within CacheSeconds. That window cannot be used to learn a right guess: every guess
/// that fails on this instance forgets the memory at once, so only a first attempt from an address could profit.
/// </remarks>
internal sealed class AuthLockout(Db db, TimeProvider time, IOptions<LockoutOptions> options, IOptions<ApiKeysOptions> keyOptions,
    ILogger<AuthLockout> log) : IAuthLockout
{
    public const string PairScope = "pair";
    public const string IpScope = "ip";

    private static readonly Counter Failures = Metrics.CreateCounter(
        "backstop_auth_failures_total", "Failed API key authentications counted towards the lockout.");

    private static readonly Counter Lockouts = Metrics.CreateCounter(
        "backstop_auth_lockouts_total", "Lockouts started, by scope (pair = client address + key prefix, ip = client address).", "scope").Seeded(PairScope, IpScope);

    private sealed record Counted
    {
        public long Failures { get; init; }
        public DateTimeOffset? LockedUntil { get; init; }
    }

    private sealed record Bucket
    {
        public DateTimeOffset? LockedUntil { get; init; }
    }

    // A bound on memory for a flood of distinct addresses; past it the memory starts over (costs reads, never
    // correctness).
    private const int MaxRemembered = 100_000;

    /// <summary>Per prefix of one address: until when "not locked" read from the database may be answered again.</summary>
    private sealed class Remembered
    {
        public readonly ConcurrentDictionary<string, DateTimeOffset> NotLockedUntil = new(StringComparer.Ordinal);
    }

    // A failure replaces (removes) the address's object: a check that read the database before the failure committed
    // writes into the object it started with, which no later check looks at.
    private readonly ConcurrentDictionary<string, Remembered> remembered = new(StringComparer.Ordinal);

    public async Task<TimeSpan?> LockedForAsync(string clientIp, string prefix, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var lifetime = TimeSpan.FromSeconds(keyOptions.Value.CacheSeconds);
        Remembered? memory = null;
        if (lifetime > TimeSpan.Zero)
        {
            memory = remembered.GetOrAdd(clientIp, _ => new Remembered());
            if (memory.NotLockedUntil.TryGetValue(prefix, out var until) && now < until && until - now <= lifetime) return null;
        }

        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<Counted>(new CommandDefinition(
            """
            select count(*) as failures, max(locked_until) as locked_until from auth_failures
            where ((scope = 'pair' and ip = @clientIp and prefix = @prefix) or (scope = 'ip' and ip = @clientIp and prefix = ''))
              and locked_until > @now
            """, new { clientIp, prefix, now }, cancellationToken: ct));
        if (row.LockedUntil is { } u) return u - now;
        // Counting takes every lock of the dictionary: only here, on the path that already paid a database read.
        if (memory is not null && remembered.Count >= MaxRemembered) remembered.Clear();
        memory?.NotLockedUntil[prefix] = now + lifetime;
        return null;
    }

    public async Task<TimeSpan?> RecordFailureAsync(string clientIp, string prefix, CancellationToken ct)
    {
        var o = options.Value;
        Failures.Inc();
        var now = time.GetUtcNow();
        remembered.TryRemove(clientIp, out _);
        // Always the pair first, then the address: two failures never wait for each other's rows crosswise.
        var (pair, address) = await db.InTransactionAsync(async (connection, tx) => (
            await CountAsync(connection, tx, PairScope, clientIp, prefix, o.MaxFailuresPerIpAndPrefix, now, ct),
            await CountAsync(connection, tx, IpScope, clientIp, "", o.MaxFailuresPerIp, now, ct)), ct);
        // Again after the commit: a check that read the database while this failure was uncommitted must not be
        // remembered (it wrote into the object removed here, or into one created after the first removal).
        remembered.TryRemove(clientIp, out _);

        LogLockout(PairScope, clientIp, prefix, pair);
        LogLockout(IpScope, clientIp, "", address);
        // Beyond the limit: this failure arrived after the lock (or raced past the read that checks it).
        var until = new[] { pair.Beyond ? pair.LockedUntil : null, address.Beyond ? address.LockedUntil : null }.Max();
        return until is { } u && u > now ? u - now : null;
    }

    private readonly record struct Outcome(bool Beyond, bool Started, long Failures, DateTimeOffset? LockedUntil);

    private async Task<Outcome> CountAsync(DbConnection connection, DbTransaction tx, string scope, string ip, string prefix, int max,
        DateTimeOffset now, CancellationToken ct)
    {
        var o = options.Value;
        // The lock: held until the transaction ends, so no concurrent failure of this counter can count between our
        // count and our insert. It also reads the lock as the last committed failure left it.
        var bucket = await connection.QuerySingleAsync<Bucket>(new CommandDefinition(
            """
            insert into auth_failures (scope, ip, prefix, failures, last_failure_at, locked_until, created_at, updated_at)
            values (@scope, @ip, @prefix, 0, @now, null, @now, @now)
            on conflict (scope, ip, prefix) do update set last_failure_at = excluded.last_failure_at, updated_at = excluded.updated_at
            returning locked_until
            """, new { scope, ip, prefix, now }, tx, cancellationToken: ct));

        await connection.ExecuteAsync(new CommandDefinition(
            "insert into auth_failure_events (id, scope, ip, prefix, created_at) values (@id, @scope, @ip, @prefix, @now)",
            new { id = Ids.New(time), scope, ip, prefix, now }, tx, cancellationToken: ct));

        var since = now.AddMinutes(-o.WindowMinutes);
        var failures = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            select count(*) from auth_failure_events
            where scope = @scope and ip = @ip and prefix = @prefix and created_at > @since
            """, new { scope, ip, prefix, since }, tx, cancellationToken: ct));

        var wasLocked = bucket.LockedUntil is { } l && l > now;
        // A new lockout starts when the failures within the window (this one included) reach the limit.
        var started = !wasLocked && failures >= max;
        var lockedUntil = wasLocked ? bucket.LockedUntil : started ? now.AddMinutes(o.LockoutMinutes) : null;
        await connection.ExecuteAsync(new CommandDefinition(
            "update auth_failures set failures = @failures, locked_until = @lockedUntil where scope = @scope and ip = @ip and prefix = @prefix",
            new { failures, lockedUntil, scope, ip, prefix }, tx, cancellationToken: ct));

        // Beyond the limit: the counter was already locked, or the window already held the limit's worth of failures
        // before this one (a lock that ended while its failures are still in the window, or a lowered limit).
        return new Outcome(wasLocked || failures > max, started, failures, lockedUntil);
    }

    private void LogLockout(string scope, string ip, string prefix, Outcome outcome)
    {
        if (!outcome.Started) return;
        Lockouts.WithLabels(scope).Inc();
        if (scope == PairScope)
            log.LogWarning("Security: API key authentication locked out for client {ClientIp} and key prefix {KeyPrefix} until {LockedUntil} after {Failures} failed attempts",
                ip, prefix, outcome.LockedUntil, outcome.Failures);
        else
            log.LogWarning("Security: API key authentication locked out for client {ClientIp} (all key prefixes) until {LockedUntil} after {Failures} failed attempts",
                ip, outcome.LockedUntil, outcome.Failures);
    }
}
