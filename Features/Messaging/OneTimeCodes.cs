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
public sealed class OneTimeCodes(PhoneNumberNormalizer phones, IOptions<MessagingOptions> options, TimeProvider time)
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
    /// Counts this send against the global and the per-identifier window, each with one conditional upsert
    /// (<c>… do update set count = count + 1 where count &lt; limit returning count</c>): the database decides, so
    /// concurrent requests cannot both take the last slot. Throws 429 with <c>Retry-After</c> when either is full;
    /// the caller's transaction then rolls back, so a refused request consumes nothing.
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

    private static async Task TakeAsync(DbConnection connection, DbTransaction tx, string bucket, DateTimeOffset now, TimeSpan window, int limit,
        string detail, CancellationToken ct)
    {
        var windowStart = new DateTimeOffset(now.UtcTicks - now.UtcTicks % window.Ticks, TimeSpan.Zero);
        var count = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
            """
            insert into otp_rate_counters (bucket, window_start, count, created_at, updated_at)
            values (@bucket, @windowStart, 1, @now, @now)
            on conflict (bucket, window_start) do update set count = otp_rate_counters.count + 1, updated_at = excluded.updated_at
                where otp_rate_counters.count < @limit
            returning count
            """, new { bucket, windowStart, now, limit }, tx, cancellationToken: ct));
        if (count is not null) return;
        var retryAfter = (int)Math.Ceiling((windowStart + window - now).TotalSeconds);
        throw new ProblemException(429, "rate_limited", detail,
            new Dictionary<string, string> { ["Retry-After"] = Math.Max(1, retryAfter).ToString(CultureInfo.InvariantCulture) });
    }
}
