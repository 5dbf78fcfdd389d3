using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Infrastructure.Providers.Paddle;

/// <summary>Paddle Billing: <c>Paddle-Signature: ts=…;h1=…</c>, h1 = hex(HMAC-SHA256(secret, ts:body)); any h1 may match (rotation).</summary>
internal static class PaddleSignature
{
    public static void Verify(string secret, string? header, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (string.IsNullOrEmpty(header)) throw WebhookRejectedException.Missing("Paddle-Signature header");
        string? ts = null;
        var candidates = new List<string>();
        foreach (var part in header.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq < 0) continue;
            var (name, value) = (part[..eq], part[(eq + 1)..]);
            if (name == "ts") ts = value;
            else if (name == "h1") candidates.Add(value);
        }
        if (ts is null || candidates.Count == 0) throw WebhookRejectedException.Invalid("The Paddle-Signature header lacks ts or h1.");
        if (!long.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            throw WebhookRejectedException.Invalid("The signature timestamp is not a number.");
        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds) throw WebhookRejectedException.Stale();

        var expected = Encoding.ASCII.GetBytes(Sign(secret, ts, body));
        foreach (var candidate in candidates)
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(candidate.ToLowerInvariant()), expected)) return;
        throw WebhookRejectedException.Invalid();
    }

    public static string Sign(string secret, string ts, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(ts + ":");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), content));
    }
}
