using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Security;
using Dapper;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Failed authentications counted in <c>auth_failures</c>, so every instance sees the same counts and a restart
/// forgets nothing. Each failure is one upsert per row (the pair, and the address) that counts, restarts an expired
/// window and sets the lock in the same statement: the database serialises concurrent failures on the row, so the
/// count is exact and exactly one failure sees the count reach the limit (and logs the warning).
/// </summary>
public sealed class AuthLockout(Db db, TimeProvider time, IOptions<LockoutOptions> options, ILogger<AuthLockout> log) : IAuthLockout
{
    public const string PairScope = "pair";
    public const string IpScope = "ip";

    private static readonly Counter Failures = Metrics.CreateCounter(
        "backstop_auth_failures_total", "Failed API key authentications counted towards the lockout.");

    private static readonly Counter Lockouts = Metrics.CreateCounter(
        "backstop_auth_lockouts_total", "Lockouts started, by scope (pair = client address + key prefix, ip = client address).", "scope");

    private sealed record Counted
    {
        public long Failures { get; init; }
        public DateTimeOffset? LockedUntil { get; init; }
    }

    public async Task<TimeSpan?> LockedForAsync(string clientIp, string prefix, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<Counted>(new CommandDefinition(
            """
            select count(*) as failures, max(locked_until) as locked_until from auth_failures
            where ((scope = 'pair' and ip = @clientIp and prefix = @prefix) or (scope = 'ip' and ip = @clientIp and prefix = ''))
              and locked_until > @now
            """, new { clientIp, prefix, now }, cancellationToken: ct));
        return row.LockedUntil is { } u ? u - now : null;
    }

    public async Task<TimeSpan?> RecordFailureAsync(string clientIp, string prefix, CancellationToken ct)
    {
        var o = options.Value;
        Failures.Inc();
        await using var connection = await db.OpenAsync(ct);
        var pair = await CountAsync(connection, PairScope, clientIp, prefix, o.MaxFailuresPerIpAndPrefix, ct);
        var address = await CountAsync(connection, IpScope, clientIp, "", o.MaxFailuresPerIp, ct);
        var now = time.GetUtcNow();
        // Beyond the limit: this failure arrived after the lock (or raced past the read that checks it).
        var until = new[] { pair.Beyond ? pair.LockedUntil : null, address.Beyond ? address.LockedUntil : null }.Max();
        return until is { } u && u > now ? u - now : null;
    }

    private async Task<(bool Beyond, DateTimeOffset? LockedUntil)> CountAsync(System.Data.Common.DbConnection connection, string scope, string ip, string prefix, int max, CancellationToken ct)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        var lockUntil = now.AddMinutes(o.LockoutMinutes);
        // In "do update set", column references read the row as it was before this statement, so the reset
        // condition and the new count are spelled out where they are needed.
        var counted = await connection.QuerySingleAsync<Counted>(new CommandDefinition(
            """
            insert into auth_failures (scope, ip, prefix, failures, window_started_at, locked_until, created_at, updated_at)
            values (@scope, @ip, @prefix, 1, @now, case when 1 >= @max then @lockUntil else null end, @now, @now)
            on conflict (scope, ip, prefix) do update set
                failures = case
                    when (auth_failures.locked_until is null and auth_failures.window_started_at <= @windowStart)
                         or auth_failures.locked_until <= @now then 1
                    else auth_failures.failures + 1 end,
                window_started_at = case
                    when (auth_failures.locked_until is null and auth_failures.window_started_at <= @windowStart)
                         or auth_failures.locked_until <= @now then @now
                    else auth_failures.window_started_at end,
                locked_until = case
                    when auth_failures.locked_until > @now then auth_failures.locked_until
                    when (case
                        when (auth_failures.locked_until is null and auth_failures.window_started_at <= @windowStart)
                             or auth_failures.locked_until <= @now then 1
                        else auth_failures.failures + 1 end) >= @max then @lockUntil
                    else null end,
                updated_at = @now
            returning failures, locked_until
            """, new { scope, ip, prefix, now, max, lockUntil, windowStart = now.AddMinutes(-o.WindowMinutes) }, cancellationToken: ct));

        var result = (counted.Failures > max, counted.LockedUntil);
        if (counted.Failures != max || counted.LockedUntil is null) return result;
        Lockouts.WithLabels(scope).Inc();
        if (scope == PairScope)
            log.LogWarning("Security: API key authentication locked out for client {ClientIp} and key prefix {KeyPrefix} until {LockedUntil} after {Failures} failed attempts",
                ip, prefix, counted.LockedUntil, counted.Failures);
        else
            log.LogWarning("Security: API key authentication locked out for client {ClientIp} (all key prefixes) until {LockedUntil} after {Failures} failed attempts",
                ip, counted.LockedUntil, counted.Failures);
        return result;
    }
}

/// <summary>Deletes failure records whose window and lock have both ended, in bounded batches.</summary>
public sealed class AuthFailuresCleanupJob(Db db, TimeProvider time, IOptions<LockoutOptions> options) : IRecurringJob
{
    private const int BatchSize = 1000;

    public static string Id => "auth-failures-cleanup";
    public static string DefaultCron => "*/15 * * * *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var windowStart = now.AddMinutes(-options.Value.WindowMinutes);
        long total = 0;
        while (true)
        {
            await using var connection = await db.OpenAsync(ct);
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                """
                delete from auth_failures
                where (scope, ip, prefix) in (
                    select scope, ip, prefix from auth_failures
                    where window_started_at <= @windowStart and (locked_until is null or locked_until <= @now)
                    limit @BatchSize)
                """, new { now, windowStart, BatchSize }, cancellationToken: ct));
            total += deleted;
            if (deleted < BatchSize) return total;
        }
    }
}
