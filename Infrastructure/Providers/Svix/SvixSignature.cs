using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Infrastructure.Providers.Svix;

/// <summary>
/// Svix / Standard Webhooks signatures (Clerk, Recall.ai): base64(HMAC-SHA256(key, id.timestamp.body)) where key is
/// the base64-decoded part of the secret after <c>whsec_</c>. Written here because the registry has no Svix package;
/// tested against Svix's own published vector.
/// </summary>
internal static class SvixSignature
{
    private const string SecretPrefix = "whsec_";

    /// <summary>A secret as Svix issues it: <c>whsec_</c> followed by base64. Anything else is a copy-paste mistake
    /// (a bare base64 string, an API key) that would reject every delivery, so start-up refuses it.</summary>
    public static bool IsValidSecret(string secret) =>
        secret.Trim().StartsWith(SecretPrefix, StringComparison.Ordinal) && TryKey(secret, out _);

    /// <summary>Checks the headers (either family) against the raw body; answers the message id on success.</summary>
    public static string Verify(string secret, Func<string, string?> header, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        var id = header("svix-id") ?? header("webhook-id");
        var timestamp = header("svix-timestamp") ?? header("webhook-timestamp");
        var signatures = header("svix-signature") ?? header("webhook-signature");
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signatures))
            throw WebhookRejectedException.Missing("svix-id/svix-timestamp/svix-signature (or webhook-*) headers");
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            throw WebhookRejectedException.Invalid("The signature timestamp is not a number.");
        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds) throw WebhookRejectedException.Stale();
        if (!TryKey(secret, out var key)) throw new InvalidOperationException("The Svix secret is not valid base64.");

        var expected = Sign(key, id, timestamp, body);
        foreach (var entry in signatures.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = entry.IndexOf(',');
            if (comma < 0 || entry[..comma] != "v1") continue; // other versions (v1a: asymmetric) are not ours to check
            byte[] given;
            try
            {
                given = Convert.FromBase64String(entry[(comma + 1)..]);
            }
            catch (FormatException)
            {
                continue;
            }
            if (CryptographicOperations.FixedTimeEquals(given, expected)) return id;
        }
        throw WebhookRejectedException.Invalid();
    }

    public static byte[] Sign(byte[] key, string id, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return HMACSHA256.HashData(key, content);
    }

    /// <summary>The <c>svix-signature</c> header value for a body (tests, and anyone who needs to sign).</summary>
    public static string SignatureHeader(string secret, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        if (!TryKey(secret, out var key)) throw new ArgumentException("Not a Svix secret.", nameof(secret));
        return "v1," + Convert.ToBase64String(Sign(key, id, timestamp.ToString(CultureInfo.InvariantCulture), body));
    }

    private static bool TryKey(string secret, out byte[] key)
    {
        var s = secret.Trim();
        if (s.StartsWith(SecretPrefix, StringComparison.Ordinal)) s = s[SecretPrefix.Length..];
        try
        {
            key = Convert.FromBase64String(s);
            return key.Length > 0;
        }
        catch (FormatException)
        {
            key = [];
            return false;
        }
    }
}
