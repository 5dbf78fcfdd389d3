using System.Security.Cryptography;
using System.Text;

namespace Backstop.Infrastructure.Security;

internal static class Secrets
{
    /// <summary>
    /// SHA-256 as lowercase hex. Fit for high-entropy secrets (API keys, tokens) only: those cannot be guessed, so a
    /// slow password hash would add cost to every request without adding safety.
    /// </summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Compares two strings in time that does not depend on where they differ.</summary>
    public static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    /// <summary>Base64url of <paramref name="bytes"/> fresh random bytes.</summary>
    public static string RandomToken(int bytes) => Base64Url(RandomNumberGenerator.GetBytes(bytes));

    public static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
