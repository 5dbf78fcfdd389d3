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
    /// <remarks>Runs on every authenticated request, so it allocates only the hex string it returns.</remarks>
    public static string Hash(string secret)
    {
        var max = Encoding.UTF8.GetMaxByteCount(secret.Length);
        byte[]? rented = null;
        var utf8 = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        var length = 0;
        try
        {
            length = Encoding.UTF8.GetBytes(secret, utf8);
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(utf8[..length], digest);
            return Convert.ToHexStringLower(digest);
        }
        finally
        {
            // The secret's bytes do not outlive the call in a pooled array or on the stack.
            CryptographicOperations.ZeroMemory(utf8[..length]);
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Compares two strings in time that does not depend on where they differ (only on their lengths).</summary>
    public static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(a.AsSpan()), MemoryMarshal.AsBytes(b.AsSpan()));

    /// <summary>Base64url of <paramref name="bytes"/> fresh random bytes.</summary>
    public static string RandomToken(int bytes) => Base64Url(RandomNumberGenerator.GetBytes(bytes));

    public static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
