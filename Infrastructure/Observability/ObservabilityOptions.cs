using System.Net;
using Backstop.Infrastructure.Configuration;

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

/// <summary>Whether a client address may read <c>/metrics</c> (<see cref="ObservabilityOptions.MetricsAllowFrom"/>).</summary>
internal sealed class MetricsAccess
{
    private static readonly IPNetwork[] LoopbackAndPrivate =
    [
        IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"), IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"),
    ];

    private readonly bool anyone;
    private readonly IPNetwork[] allowed;

    public MetricsAccess(Microsoft.Extensions.Options.IOptions<ObservabilityOptions> options)
    {
        var entries = options.Value.MetricsAllowFrom;
        anyone = entries.Any(e => e.Trim() == "*");
        allowed = entries.Length == 0 ? LoopbackAndPrivate : [.. entries.Select(ObservabilityOptions.Parse).OfType<IPNetwork>()];
    }

    public bool Allows(string clientIp)
    {
        if (anyone) return true;
        if (!IPAddress.TryParse(clientIp, out var address)) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        foreach (var network in allowed)
            if (network.Contains(address)) return true;
        return false;
    }
}
