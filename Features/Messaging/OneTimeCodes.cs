using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MimeKit;

namespace Backstop.Features.Messaging;

/// <summary>Rules of one-time codes shared by sending and verifying: identifiers, hashing, and the send limits.</summary>
internal sealed class OneTimeCodes(PhoneNumberNormalizer phones, IOptions<MessagingOptions> options, SendRateLimits limits)
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
    /// Counts this send against the instance-wide ceiling, the organization's share and the organization's
    /// per-recipient limit, each a sliding window (<see cref="SendRateLimits"/>), taken always in that order. Both
    /// the share and the recipient limit are the organization's own: a tenant that floods one number or sends its
    /// whole share locks out nobody of another tenant; only the ceiling is common. Throws 429 with <c>Retry-After</c>.
    /// </summary>
    public async Task TakeSendSlotAsync(DbConnection connection, DbTransaction tx, string organizationId, string identifier, CancellationToken ct)
    {
        var o = options.Value.Otp;
        await limits.TakeAsync(connection, tx, "otp:global", TimeSpan.FromMinutes(1), o.GlobalLimitPerMinute,
            "Too many one-time codes are being sent right now; try again shortly.", ct);
        await limits.TakeAsync(connection, tx, $"otp:org:{organizationId}", TimeSpan.FromMinutes(1), o.OrganizationLimitPerMinute,
            $"This organization can send at most {o.OrganizationLimitPerMinute} one-time codes a minute.", ct);
        await limits.TakeAsync(connection, tx, $"otp:org:{organizationId}:to:{identifier}", TimeSpan.FromMinutes(o.PerIdentifierWindowMinutes), o.PerIdentifierLimit,
            $"At most {o.PerIdentifierLimit} codes can be sent to one recipient every {o.PerIdentifierWindowMinutes} minutes.", ct);
    }
}
