using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Event endpoint signing secrets (Standard Webhooks: <c>whsec_</c> + base64 of 32 random bytes). A secret must be
/// read back to sign, so it is stored encrypted with ASP.NET Data Protection (the keys live in the database,
/// Infrastructure/Security), never hashed; it is shown once at creation and never logged.
/// </summary>
public sealed class EventSecrets(IDataProtectionProvider dataProtection)
{
    public const string Prefix = "whsec_";
    public const string Purpose = "Backstop.Events.EndpointSecret";
    public const int SecretBytes = 32;

    private readonly IDataProtector protector = dataProtection.CreateProtector(Purpose);

    /// <summary>A new secret, <c>whsec_</c> + base64 of 32 random bytes.</summary>
    public static string New() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(SecretBytes));

    /// <summary>The HMAC key of a secret: the base64-decoded part after <c>whsec_</c>.</summary>
    public static byte[] Key(string secret) =>
        Convert.FromBase64String(secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret[Prefix.Length..] : secret);

    /// <summary>The form stored in <c>event_endpoints.secret_protected</c>.</summary>
    public string Protect(string secret) => protector.Protect(secret);

    public string Unprotect(string protectedSecret) => protector.Unprotect(protectedSecret);
}
