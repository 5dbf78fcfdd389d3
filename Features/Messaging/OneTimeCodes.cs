using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Dapper;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Backstop.Features.Messaging;

/// <summary>Rules of one-time codes shared by sending and verifying: identifiers, hashing, and the send limits.</summary>
internal sealed class OneTimeCodes(PhoneNumberNormalizer phones, IOptions<MessagingOptions> options, TimeProvider time)
{
    /// <summary>The normalised identifier: an E.164 number, or a lowercased email address; null when it is neither.</summary>
    public string? Identifier(string? to)
    {
        if (string.IsNullOrWhiteSpace(to)) return null;
        if (to.Contains('@'))
            return MailboxAddress.TryParse(to.Trim(), out var address) && address.Address.Contains('@') && to.Trim().Length <= 254
                ? address.Address.ToLowerInvariant()
                : null;
        return phones.ToE164(to);
    }

    public static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>SHA-256 over the row id and the code: the id salts it, so equal codes never share a hash.</summary>
    public static string Hash(string id, string code) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{id}:{code}")));

    /// <summary>
    /// Counts this send against the global and the per-identifier limit, each a sliding window: a send is granted
    /// while fewer than <c>limit</c> sends of the bucket were granted within the last window (each granted send is a
    /// row in <c>otp_rate_events</c>). Before counting, the bucket's row in <c>otp_rate_limits</c> is upserted: that
    /// row lock (PostgreSQL; on SQLite the transaction already holds the write lock) makes concurrent requests for one
    /// bucket count one after the other, each seeing the sends committed before it, so they cannot race past the limit.
    /// Buckets are always taken in the same order (global, then recipient), so two requests never wait on each other
    /// crosswise. Throws 429 with <c>Retry-After</c> (seconds until a slot frees) when either is full; the caller's
    /// transaction then rolls back, so a refused request consumes nothing.
    /// </summary>
    public async Task TakeSendSlotAsync(DbConnection connection, DbTransaction tx, string identifier, CancellationToken ct)
    {
        var o = options.Value.Otp;
        var now = time.GetUtcNow();
        await TakeAsync(connection, tx, "otp:global", now, TimeSpan.FromMinutes(1), o.GlobalLimitPerMinute,
            "Too many one-time codes are being sent right now; try again shortly.", ct);
        await TakeAsync(connection, tx, "otp:to:" + identifier, now, TimeSpan.FromMinutes(o.PerIdentifierWindowMinutes), o.PerIdentifierLimit,
            $"At most {o.PerIdentifierLimit} codes can be sent to one recipient every {o.PerIdentifierWindowMinutes} minutes.", ct);
    }

    private async Task TakeAsync(DbConnection connection, DbTransaction tx, string bucket, DateTimeOffset now, TimeSpan window, int limit,
        string detail, CancellationToken ct)
    {
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
