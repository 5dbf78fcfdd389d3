using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Errors;

namespace Backstop.Features.Webhooks;

/// <summary>A delivery refused before anything was stored: bad, stale or missing signature or token.</summary>
public sealed class WebhookRejectedException(int status, string code, string detail) : ProblemException(status, code, detail)
{
    public static WebhookRejectedException Missing(string what) => new(400, "missing_signature", $"The request has no {what}.");
    public static WebhookRejectedException Invalid(string detail = "The signature does not match the body.") => new(400, "invalid_signature", detail);
    public static WebhookRejectedException Stale() => new(400, "stale_signature", "The signature's timestamp is outside the accepted window.");
}

/// <summary>
/// Svix / Standard Webhooks signatures (Clerk, Recall.ai): base64(HMAC-SHA256(key, id.timestamp.body)) where key is
/// the base64-decoded part of the secret after <c>whsec_</c>. Written here because the registry has no Svix package;
/// tested against Svix's own published vector.
/// </summary>
public static class Svix
{
    private const string SecretPrefix = "whsec_";

    public static bool IsValidSecret(string secret) => TryKey(secret, out _);

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

/// <summary>Paddle Billing: <c>Paddle-Signature: ts=…;h1=…</c>, h1 = hex(HMAC-SHA256(secret, ts:body)); any h1 may match (rotation).</summary>
public static class PaddleSignature
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

/// <summary>
/// Twilio: base64(HMAC-SHA1(auth token, URL + name1value1name2value2…)) with the POST parameters sorted by name.
/// Twilio's SDKs accept the URL with or without an explicit default port, and so do we.
/// </summary>
public static class TwilioSignature
{
    public static void Verify(string authToken, string url, IEnumerable<KeyValuePair<string, string[]>> form, string? header)
    {
        if (string.IsNullOrEmpty(header)) throw WebhookRejectedException.Missing("X-Twilio-Signature header");
        var parameters = form.ToList();
        byte[] given;
        try
        {
            given = Convert.FromBase64String(header);
        }
        catch (FormatException)
        {
            throw new WebhookRejectedException(403, "invalid_signature", "The X-Twilio-Signature does not match.");
        }
        var match = false;
        foreach (var candidate in UrlVariants(url))
            match |= CryptographicOperations.FixedTimeEquals(given, Convert.FromBase64String(Sign(authToken, candidate, parameters)));
        if (!match) throw new WebhookRejectedException(403, "invalid_signature", "The X-Twilio-Signature does not match.");
    }

    public static string Sign(string authToken, string url, IEnumerable<KeyValuePair<string, string[]>> form)
    {
        var data = new StringBuilder(url);
        foreach (var (name, values) in form.OrderBy(p => p.Key, StringComparer.Ordinal))
            foreach (var value in values.Order(StringComparer.Ordinal))
                data.Append(name).Append(value);
        return Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(authToken), Encoding.UTF8.GetBytes(data.ToString())));
    }

    private static IEnumerable<string> UrlVariants(string url)
    {
        yield return url;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !uri.IsDefaultPort) yield break;
        var origin = uri.Scheme + "://" + uri.Host;
        var withPort = $"{origin}:{uri.Port}";
        if (url.StartsWith(withPort, StringComparison.OrdinalIgnoreCase)) yield return origin + url[withPort.Length..];
        else if (url.StartsWith(origin, StringComparison.OrdinalIgnoreCase)) yield return withPort + url[origin.Length..];
    }
}
