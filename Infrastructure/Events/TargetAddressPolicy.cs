using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Which addresses an event delivery may connect to (SSRF). Checked at registration (events-api) and again at each
/// connection (<see cref="EventDeliveryHttp"/>'s connect callback), because a host that resolved to a public address
/// when it was registered may resolve to a private one later (DNS rebinding).
/// </summary>
public static class TargetAddressPolicy
{
    private static readonly IPAddress AwsMetadataV6 = IPAddress.Parse("fd00:ec2::254");

    /// <summary>
    /// Whether a delivery must not connect to <paramref name="address"/>: loopback, unspecified, link-local
    /// (169.254/16 with the 169.254.169.254 metadata service, fe80::/10), private (10/8, 172.16/12, 192.168/16,
    /// ULA fc00::/7 with AWS's fd00:ec2::254), CGNAT 100.64/10, "this network" 0/8, benchmarking 198.18/15,
    /// reserved 240/4, broadcast, multicast, site-local fec0::/10; IPv4-mapped and NAT64-less IPv6 forms are judged
    /// by their IPv4 address.
    /// </summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                0 => true,                                  // "this network", 0.0.0.0
                10 => true,                                 // RFC 1918
                127 => true,                                // loopback
                100 => b[1] >= 64 && b[1] <= 127,           // CGNAT 100.64/10
                169 => b[1] == 254,                         // link-local, metadata 169.254.169.254
                172 => b[1] >= 16 && b[1] <= 31,            // RFC 1918
                192 => (b[1] == 168)                        // RFC 1918
                       || (b[1] == 0 && b[2] == 0),         // IETF protocol assignments 192.0.0/24
                198 => b[1] is 18 or 19,                    // benchmarking 198.18/15
                >= 224 => true,                             // multicast 224/4, reserved 240/4, broadcast
                _ => false,
            };
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback) || address.Equals(AwsMetadataV6)) return true;
            if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast) return true;
            var b = address.GetAddressBytes();
            if ((b[0] & 0xfe) == 0xfc) return true;         // ULA fc00::/7
            // IPv4-compatible ::a.b.c.d (deprecated) and NAT64 64:ff9b::/96: judged by the embedded IPv4 address.
            var v4Compatible = b.Take(12).All(x => x == 0);
            var nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.Skip(4).Take(8).All(x => x == 0);
            if (v4Compatible || nat64) return IsForbidden(new IPAddress(b[12..]));
            return false;
        }
        return true; // not an IP address family a delivery uses
    }
}
