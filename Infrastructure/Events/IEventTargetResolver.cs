using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>Resolves a delivery target's host name. Injectable so tests can simulate DNS (and DNS rebinding).</summary>
public interface IEventTargetResolver
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct);
}
