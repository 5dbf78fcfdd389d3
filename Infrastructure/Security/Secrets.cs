using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Backstop.Infrastructure.Security;

internal static class Secrets
{
    /// <summary>
    /// SHA-256 as lowercase hex. Fit for high-entropy secrets (API keys, tokens) only: those cannot be guessed, so a
    /// slow password hash would add cost to every request without adding safety.
    /// </summary>
    public static string Hash(string secret)
    {
        Span<byte> digest = stackalloc byte[DigestLength];
        Digest(secret, digest);
        return Convert.ToHexStringLower(digest);
    }

    public const int DigestLength = SHA256.HashSizeInBytes;

    /// <summary>
    /// The SHA-256 <see cref="Hash"/> writes as hex, as bytes: what a request's key is compared with. A comparison of
    /// the 32 bytes costs a quarter of one of the 64-character hex strings (whose UTF-16 is 128 bytes), and
    /// <see cref="CryptographicOperations.FixedTimeEquals"/> runs unoptimised on purpose.
    /// </summary>
    public static byte[] Digest(string secret)
    {
        var digest = new byte[DigestLength];
        Digest(secret, digest);
        return digest;
    }

    /// <remarks>Runs on every authenticated request, so it allocates nothing.</remarks>
    private static void Digest(string secret, Span<byte> digest)
    {
        var max = Encoding.UTF8.GetMaxByteCount(secret.Length);
        byte[]? rented = null;
        var utf8 = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var length = 0;
        try
        {
            length = Encoding.UTF8.GetBytes(secret, utf8);
            SHA256.HashData(utf8[..length], digest);
        }
        finally
        {
            // The secret's bytes do not outlive the call in a pooled array or on the stack.
            CryptographicOperations.ZeroMemory(utf8[..length]);
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The digest a <see cref="Hash"/> value stands for, or null when the text is not one.</summary>
    public static byte[]? DigestOf(string hash)
    {
        if (hash.Length != DigestLength * 2) return null;
        var digest = new byte[DigestLength];
        return Convert.FromHexString(hash, digest, out _, out var written) == OperationStatus.Done && written == DigestLength ? digest : null;
    }

    /// <summary>Compares two digests in time that does not depend on where they differ.</summary>
    public static bool FixedTimeEquals(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => CryptographicOperations.FixedTimeEquals(a, b);

    /// <summary>Compares two strings in time that does not depend on where they differ (only on their lengths).</summary>
    public static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(a.AsSpan()), MemoryMarshal.AsBytes(b.AsSpan()));

    /// <summary>Base64url of <paramref name="bytes"/> fresh random bytes.</summary>
    public static string RandomToken(int bytes) => Base64Url(RandomNumberGenerator.GetBytes(bytes));

    public static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
