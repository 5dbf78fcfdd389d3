using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// The client address that failed authentications are counted against. The connection's address, unless the
/// connection comes from a proxy listed in <c>Security:TrustedProxies</c>: then <c>X-Forwarded-For</c> is walked
/// from the right (the hop the trusted proxy itself saw) past further trusted proxies. A header from anyone else is
/// ignored, so a client cannot dodge the lockout by inventing addresses.
/// </summary>
internal sealed class ClientIp(IOptions<SecurityOptions> options)
{
    /// <summary>What a request without a connection address (Unix socket, in-process host) is counted as.</summary>
    public const string Unknown = "unknown";

    private readonly HashSet<IPAddress> trusted = options.Value.TrustedProxies
        .Select(p => IPAddress.TryParse(p, out var a) ? Normalize(a) : null)
        .OfType<IPAddress>()
        .ToHashSet();

    public string Resolve(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null) return Unknown;
        var client = Normalize(remote);
        if (trusted.Contains(client))
        {
            var hops = context.Request.Headers["X-Forwarded-For"]
                .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                .ToList();
            for (var i = hops.Count - 1; i >= 0; i--)
            {
                if (!TryParseHop(hops[i], out var hop)) break;
                client = hop;
                if (!trusted.Contains(hop)) break;
            }
        }
        return Bucket(client);
    }

    /// <summary>
    /// IPv6 clients are counted per /64: one subscriber usually holds a whole /64, and counting single addresses
    /// would let an attacker take a fresh address for every few attempts.
    /// </summary>
    private static string Bucket(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return address.ToString();
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static bool TryParseHop(string value, out IPAddress address)
    {
        // Accepts "1.2.3.4", "1.2.3.4:5678", "2001:db8::1" and "[2001:db8::1]:5678".
        if (IPAddress.TryParse(value, out address!)) { address = Normalize(address); return true; }
        if (IPEndPoint.TryParse(value, out var endpoint)) { address = Normalize(endpoint.Address); return true; }
        return false;
    }
}
