using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// The HTTP client deliveries use: no redirects followed (a 3xx is a failed delivery), no cookies, no proxy, and a
/// connect callback that resolves the host itself (<see cref="IEventTargetResolver"/>), drops every address
/// <see cref="TargetAddressPolicy.IsForbidden"/> refuses (unless <c>Events:AllowPrivateTargets</c>) and connects to
/// an address it checked — so a host that answered a public address at registration and a private one now (DNS
/// rebinding) is refused before any byte is sent. The timeout is the channel's (on the TimeProvider), not the client's.
/// </summary>
internal static class EventDeliveryHttp
{
    public const string ClientName = "backstop-events";

    public static IServiceCollection AddEventDeliveryHttp(this IServiceCollection services)
    {
        services.AddHttpClient(ClientName, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => CreateHandler(sp.GetRequiredService<IEventTargetResolver>(), sp.GetRequiredService<IOptions<EventsOptions>>()));
        return services;
    }

    public static SocketsHttpHandler CreateHandler(IEventTargetResolver resolver, IOptions<EventsOptions> options) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        // A pooled connection was checked when it was opened; recycled so a long-lived one does not outlast DNS changes.
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = (context, ct) => ConnectAsync(resolver, options.Value.AllowPrivateTargets, context.DnsEndPoint, ct),
    };

    internal static async ValueTask<Stream> ConnectAsync(IEventTargetResolver resolver, bool allowPrivate, DnsEndPoint target, CancellationToken ct)
    {
        var addresses = await resolver.ResolveAsync(target.Host, ct);
        var allowed = allowPrivate ? addresses : addresses.Where(a => !TargetAddressPolicy.IsForbidden(a)).ToArray();
        if (allowed.Length == 0)
            throw new EventTargetRefusedException(addresses.Length == 0
                ? $"The host {target.Host} did not resolve."
                : $"The host {target.Host} resolves only to addresses deliveries may not connect to (loopback, private, link-local or metadata).");
        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, target.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }
}
