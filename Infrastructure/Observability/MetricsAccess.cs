using System.Net;

namespace Backstop.Infrastructure.Observability;

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
