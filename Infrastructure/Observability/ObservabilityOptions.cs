using System.Net;

namespace Backstop.Infrastructure.Observability;

internal sealed class ObservabilityOptions : IValidatedOptions
{
    public const string Section = "Observability";

    /// <summary>
    /// Who may scrape <c>/metrics</c>: addresses or CIDR ranges (<c>10.1.2.3</c>, <c>10.0.0.0/8</c>, <c>::1</c>), or
    /// <c>*</c> for anyone. Empty (the default): loopback and the private ranges (10/8, 172.16/12, 192.168/16,
    /// 169.254/16, fc00::/7, fe80::/10). The client address is the connection's, or the forwarded one from a
    /// <c>Security:TrustedProxies</c> proxy. A list replaces the default rather than adding to it.
    /// </summary>
    public string[] MetricsAllowFrom { get; set; } = [];

    public IEnumerable<string> Validate()
    {
        for (var i = 0; i < MetricsAllowFrom.Length; i++)
            if (MetricsAllowFrom[i].Trim() != "*" && Parse(MetricsAllowFrom[i]) is null)
                yield return $"Observability:MetricsAllowFrom:{i} must be an IP address, a CIDR range or * (got '{MetricsAllowFrom[i]}').";
    }

    internal static IPNetwork? Parse(string entry)
    {
        var text = entry.Trim();
        if (IPNetwork.TryParse(text, out var network)) return network;
        return IPAddress.TryParse(text, out var address) ? new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128) : null;
    }
}
