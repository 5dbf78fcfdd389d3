using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>The system resolver; an IP literal resolves to itself.</summary>
internal sealed class DnsEventTargetResolver : IEventTargetResolver
{
    public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
}
