using System.Security.Cryptography;
using System.Text;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Tenant API keys look like <c>bsk_live_2aZ0kq9Xb7Lm_6Jd0...Qw4x9Tf2Kp</c>:
/// <list type="bullet">
/// <item><c>bsk_live_</c>: the type prefix secret scanners match on (<c>bsk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{30}</c>);</item>
/// <item>12 base62 characters: the lookup id, public (shown as part of <see cref="Parsed.Prefix"/>, indexed);</item>
/// <item>24 base62 characters: the secret, about 143 bits from the system CSPRNG;</item>
/// <item>6 base62 characters: a checksum, the first 32 bits of SHA-256 over everything before it, so a mistyped
/// or truncated key is rejected without a database lookup.</item>
/// </list>
/// Only SHA-256 of the whole key is stored.
/// </summary>
internal static class KeyFormat
{
    public const string TypePrefix = "bsk_live_";
    public const int LookupIdLength = 12;
    public const int SecretLength = 24;
    public const int ChecksumLength = 6;
    public const int Length = 9 + LookupIdLength + 1 + SecretLength + ChecksumLength;

    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public sealed record Parsed(string LookupId, string Prefix);

    public static (string Key, Parsed Parts) Generate()
    {
        // GetString draws each character uniformly (rejection sampling), so no modulo bias.
        var lookupId = RandomNumberGenerator.GetString(Alphabet, LookupIdLength);
        var secret = RandomNumberGenerator.GetString(Alphabet, SecretLength);
        var body = TypePrefix + lookupId + "_" + secret;
        return (body + Checksum(body), new Parsed(lookupId, TypePrefix + lookupId));
    }

    /// <summary>The public prefix of anything shaped like one of our keys (even with a wrong checksum), else null.</summary>
    public static string? PrefixOf(string token)
    {
        if (!token.StartsWith(TypePrefix, StringComparison.Ordinal)) return null;
        var id = token.AsSpan(TypePrefix.Length);
        if (id.Length < LookupIdLength) return TypePrefix + "malformed";
        foreach (var c in id[..LookupIdLength])
            if (!IsBase62(c)) return TypePrefix + "malformed";
        return TypePrefix + id[..LookupIdLength].ToString();
    }

    /// <summary>Parses a well-formed key whose checksum matches; null for anything else.</summary>
    public static Parsed? TryParse(string token) =>
        TryParseShape(token) is { } parsed && ChecksumMatches(token) ? parsed : null;

    /// <summary>
    /// The parts of a token shaped like a key (prefix, length, separator, base62), without checking its checksum;
    /// null for anything else. For a cache lookup: a token whose hash matches a verified key's is that key, so its
    /// checksum (a SHA-256, the second one of a request) only needs checking before a database lookup.
    /// </summary>
    public static Parsed? TryParseShape(string token)
    {
        if (token.Length != Length || !token.StartsWith(TypePrefix, StringComparison.Ordinal)) return null;
        if (token[TypePrefix.Length + LookupIdLength] != '_') return null;
        foreach (var c in token.AsSpan(TypePrefix.Length, LookupIdLength)) if (!IsBase62(c)) return null;
        foreach (var c in token.AsSpan(TypePrefix.Length + LookupIdLength + 1)) if (!IsBase62(c)) return null;
        var lookupId = token.Substring(TypePrefix.Length, LookupIdLength);
        return new Parsed(lookupId, TypePrefix + lookupId);
    }

    /// <summary>Whether the last characters of a key-shaped token are the checksum of the rest.</summary>
    public static bool ChecksumMatches(string token)
    {
        if (token.Length <= ChecksumLength) return false;
        // The checksum is not secret (anyone can compute it), so an ordinary comparison is fine here.
        Span<char> checksum = stackalloc char[ChecksumLength];
        WriteChecksum(token.AsSpan(0, token.Length - ChecksumLength), checksum);
        return checksum.SequenceEqual(token.AsSpan(token.Length - ChecksumLength));
    }

    public static string Checksum(string body)
    {
        Span<char> chars = stackalloc char[ChecksumLength];
        WriteChecksum(body, chars);
        return new string(chars);
    }

    // Every request with a key checks it: on the stack, without the strings and arrays of a plain implementation.
    private static void WriteChecksum(ReadOnlySpan<char> body, Span<char> chars)
    {
        var ascii = body.Length <= 256 ? stackalloc byte[256] : new byte[body.Length];
        var length = Encoding.ASCII.GetBytes(body, ascii);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(ascii[..length], hash);
        var value = (ulong)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(hash);
        // 62^6 > 2^32: six characters hold every 32-bit value.
        for (var i = ChecksumLength - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
    }

    private static bool IsBase62(char c) => char.IsAsciiLetterOrDigit(c);
}
