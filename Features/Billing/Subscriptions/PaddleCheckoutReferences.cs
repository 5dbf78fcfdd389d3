using System.Security.Cryptography;
using System.Text;
using Backstop.Infrastructure.Providers.Paddle;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>
/// Server-issued references for Paddle checkouts: <c>bpr1.{organizationId}.{nonce}.{hex HMAC-SHA256(Paddle:CheckoutSecret,
/// "bpr1.{organizationId}.{nonce}")}</c>, passed in the checkout's <c>custom_data</c> as <see cref="Field"/>. Paddle
/// copies custom_data onto the subscription, whose events then prove which organization opened the checkout; an
/// organization id typed into the browser without the reference proves nothing.
/// </summary>
internal sealed class PaddleCheckoutReferences(IOptions<PaddleOptions> options)
{
    public const string Field = "backstop_reference";

    private const string Version = "bpr1";

    public bool Configured => !string.IsNullOrWhiteSpace(options.Value.CheckoutSecret);

    public string Issue(string organizationId)
    {
        var secret = options.Value.CheckoutSecret?.Trim();
        if (string.IsNullOrEmpty(secret)) throw new InvalidOperationException("Paddle:CheckoutSecret is not set.");
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var body = $"{Version}.{organizationId}.{nonce}";
        return body + "." + Sign(secret, body);
    }

    /// <summary>The organization a valid reference names; null for a missing, malformed or forged one (or no secret configured).</summary>
    public string? Verify(string? reference)
    {
        var secret = options.Value.CheckoutSecret?.Trim();
        if (string.IsNullOrEmpty(secret) || string.IsNullOrEmpty(reference) || reference.Length > 300) return null;
        var parts = reference.Split('.');
        if (parts.Length != 4 || parts[0] != Version || parts[1].Length == 0) return null;
        var expected = Encoding.ASCII.GetBytes(Sign(secret, $"{parts[0]}.{parts[1]}.{parts[2]}"));
        var given = Encoding.ASCII.GetBytes(parts[3]);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? parts[1] : null;
    }

    private static string Sign(string secret, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));
}
