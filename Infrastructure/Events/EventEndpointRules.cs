using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// What an endpoint's URL and filter must be, checked at registration and on every change (422 with a stable code;
/// nothing is stored). The URL check is the first of two: delivery checks the address it actually connects to again
/// (<see cref="TargetAddressPolicy"/> in its connect callback), since a name can resolve differently later.
/// </summary>
internal sealed class EventEndpointRules(IOptions<EventsOptions> options, IEventTargetResolver resolver)
{
    public const int MaxUrlLength = 2048;

    /// <summary>The URL as it will be stored, or a 422: <c>invalid_url</c>, <c>url_not_https</c>, <c>url_unresolvable</c>, <c>url_target_forbidden</c>.</summary>
    public async Task<string> CheckUrlAsync(string input, CancellationToken ct)
    {
        var text = input.Trim();
        if (text.Length > MaxUrlLength || !Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || string.IsNullOrEmpty(uri.Host))
            throw Refused("invalid_url", $"url must be an absolute https URL of at most {MaxUrlLength} characters.");
        if (uri.Scheme == "http" && !options.Value.AllowHttp)
            throw Refused("url_not_https", "url must use https (plain http is accepted only when the operator sets Events:AllowHttp=true).");
        // Credentials in the URL would be stored and shown in clear, and sent on every delivery; the signature is the
        // endpoint's authentication.
        if (!string.IsNullOrEmpty(uri.UserInfo))
            throw Refused("invalid_url", "url must not carry a user name or password; the webhook signature authenticates deliveries.");
        if (!string.IsNullOrEmpty(uri.Fragment))
            throw Refused("invalid_url", "url must not have a fragment (#…): it is never sent to the server.");
        if (options.Value.AllowPrivateTargets) return uri.AbsoluteUri;

        IPAddress[] addresses;
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await resolver.ResolveAsync(uri.IdnHost, ct);
            }
            catch (SocketException)
            {
                addresses = [];
            }
            if (addresses.Length == 0)
                throw Refused("url_unresolvable", $"The host {uri.Host} of url does not resolve to any address.");
        }
        // Every address the name resolves to: a connection may use any of them.
        if (addresses.Any(TargetAddressPolicy.IsForbidden))
            throw Refused("url_target_forbidden",
                $"The host {uri.Host} of url resolves to a loopback, private, link-local or metadata address, which event endpoints may not target.");
        return uri.AbsoluteUri;
    }

    /// <summary>The filter as stored (a JSON array, or null for every type), or 422 <c>unknown_event_type</c>.</summary>
    public string? CheckFilter(IReadOnlyList<string>? eventTypes)
    {
        if (eventTypes is null) return null;
        var entries = eventTypes.Select(e => e.Trim()).ToList();
        var unknown = entries.Where(e => !EventTypes.IsValidFilter(e)).ToList();
        if (unknown.Count > 0)
            throw Refused("unknown_event_type",
                $"eventTypes names what is not in the catalogue (GET /v1/event-types): {string.Join(", ", unknown)}. Use an exact type, a prefix such as meeting.*, or *.");
        return EventEndpointStore.SerializeFilter(entries);
    }

    private static ProblemException Refused(string code, string detail) => new(422, code, detail);
}
