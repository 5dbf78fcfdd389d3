namespace Backstop.Infrastructure.Security;

internal sealed class SecurityOptions : IValidatedOptions
{
    public const string Section = "Security";

    /// <summary>Addresses of reverse proxies whose X-Forwarded-For is believed.</summary>
    public string[] TrustedProxies { get; set; } = [];

    public IEnumerable<string> Validate()
    {
        for (var i = 0; i < TrustedProxies.Length; i++)
            if (!System.Net.IPAddress.TryParse(TrustedProxies[i], out _))
                yield return $"Security:TrustedProxies:{i} must be an IP address (got '{TrustedProxies[i]}').";
    }
}
