using System.Globalization;

namespace Backstop.Features.Messaging;

/// <summary>
/// Sliding-window send limits decided by the database, so they hold across instances and restarts: a send is
/// granted while fewer than <c>limit</c> sends of its bucket were granted within the last window (each granted send
/// is a row in <c>otp_rate_events</c>; the tables were made for one-time codes and serve every send limit of the
/// slice). Before counting, the bucket's row in <c>otp_rate_limits</c> is upserted: that row lock (PostgreSQL; on
/// SQLite the transaction already holds the write lock) makes concurrent requests for one bucket count one after the
/// other, each seeing the sends committed before it, so they cannot race past the limit. Callers take several
/// buckets always in the same order, so two requests never wait on each other crosswise.
/// </summary>
internal sealed class SendRateLimits(TimeProvider time)
{
    /// <summary>Throws 429 <c>rate_limited</c> with <c>Retry-After</c> (seconds until a slot frees) when the bucket is full; the caller's transaction then rolls back, so a refused request consumes nothing.</summary>
    public async Task TakeAsync(DbConnection connection, DbTransaction tx, string bucket, TimeSpan window, int limit, string detail, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // The lock: held until the transaction ends, so the count below cannot be overtaken by a concurrent grant.
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into otp_rate_limits (bucket, created_at, updated_at)
            values (@bucket, @now, @now)
            on conflict (bucket) do update set updated_at = excluded.updated_at
            """, new { bucket, now }, tx, cancellationToken: ct));

        var since = now - window;
        var count = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from otp_rate_events where bucket = @bucket and created_at > @since",
            new { bucket, since }, tx, cancellationToken: ct));
        if (count < limit)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "insert into otp_rate_events (id, bucket, created_at) values (@id, @bucket, @now)",
                new { id = Ids.New(time), bucket, now }, tx, cancellationToken: ct));
            return;
        }

        // A slot frees when enough sends leave the window that fewer than the limit remain: the (count - limit + 1)-th
        // oldest one (the oldest, unless the limit was lowered meanwhile).
        var freesWith = await connection.QuerySingleAsync<DateTimeOffset>(new CommandDefinition(
            """
            select created_at from otp_rate_events where bucket = @bucket and created_at > @since
            order by created_at limit 1 offset @skip
            """, new { bucket, since, skip = count - limit }, tx, cancellationToken: ct));
        var retryAfter = (int)Math.Ceiling((freesWith + window - now).TotalSeconds);
        throw new ProblemException(429, "rate_limited", detail,
            new Dictionary<string, string> { ["Retry-After"] = Math.Max(1, retryAfter).ToString(CultureInfo.InvariantCulture) });
    }
}
