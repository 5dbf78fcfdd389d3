using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// <c>Admin:Urls</c>: a second listening address (or several, <c>;</c>-separated, like <c>ASPNETCORE_URLS</c>) for the
/// operator's endpoints. When set, Kestrel listens there too, and <c>/v1/admin/*</c>, <c>/metrics</c> and
/// <c>/hangfire</c> are answered only on a connection that arrived at one of its ports; on any other port they answer
/// 404 <c>admin_port_only</c> before authentication is attempted. Empty (the default): everything on the main port.
/// Health probes, the API reference (<c>/docs</c>, which <c>Api:DocsEnabled</c> governs) and the tenant API stay on
/// every port. The decision reads the connection's local port, which a reverse proxy cannot forge.
/// </summary>
internal static class AdminPort
{
    public const string UrlsKey = "Admin:Urls";
    public const string DefaultUrls = "http://localhost:8080";

    private static readonly string[] OperatorPaths = ["/v1/admin", "/metrics", "/hangfire"];

    /// <summary>The entries of <c>Admin:Urls</c> (trimmed, empty ones dropped).</summary>
    public static string[] Entries(string? urls) =>
        (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Why an <c>Admin:Urls</c> value cannot be bound, one message per bad entry.</summary>
    public static IEnumerable<string> Validate(string? urls)
    {
        foreach (var entry in Entries(urls))
        {
            if (Parse(entry) is null)
                yield return $"{UrlsKey}: '{entry}' must be an http:// or https:// address with an explicit port other than 0 (e.g. http://127.0.0.1:9091).";
        }
    }

    internal static BindingAddress? Parse(string entry)
    {
        try
        {
            var address = BindingAddress.Parse(entry);
            if (address.IsUnixPipe || address.Scheme is not ("http" or "https") || address.Port <= 0) return null;
            // BindingAddress fills in 80/443 when no port is written: an admin port must be chosen, not implied.
            return entry.Contains($":{address.Port}", StringComparison.Ordinal) ? address : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// Makes Kestrel listen on the main addresses (as configured, else <see cref="DefaultUrls"/>) and on those of
    /// <c>Admin:Urls</c>. With <c>Kestrel:Endpoints</c> configured the admin addresses are added as endpoints of their
    /// own (Kestrel then binds both); otherwise they are appended to the URL list.
    /// </summary>
    public static void Listen(WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var admin = Entries(configuration[UrlsKey]);
        if (configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            if (admin.Length == 0) return;
            builder.WebHost.ConfigureKestrel(k =>
            {
                // An entry that does not parse is named by the start-up check (AdminOptions), which stops the start.
                foreach (var address in admin.Select(Parse).OfType<BindingAddress>())
                    ListenOn(k, address);
            });
            return;
        }
        var main = MainUrls(configuration);
        if (admin.Length == 0 && main is not null) return;
        builder.WebHost.UseUrls(string.Join(';', [main ?? DefaultUrls, .. admin]));
    }

    // What Kestrel would bind without us: urls, else http_ports and https_ports; null when nothing is configured.
    private static string? MainUrls(IConfiguration configuration)
    {
        if (configuration["urls"] is { Length: > 0 } urls) return urls;
        var ports = Entries(configuration["http_ports"]).Select(p => $"http://*:{p}")
            .Concat(Entries(configuration["https_ports"]).Select(p => $"https://*:{p}")).ToArray();
        return ports.Length > 0 ? string.Join(';', ports) : null;
    }

    private static void ListenOn(KestrelServerOptions k, BindingAddress address)
    {
        Action<ListenOptions> https = o => { if (address.Scheme == "https") o.UseHttps(); };
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase)) k.ListenLocalhost(address.Port, https);
        else if (IPAddress.TryParse(address.Host, out var ip)) k.Listen(ip, address.Port, https);
        else k.ListenAnyIP(address.Port, https);
    }

    /// <summary>Refuses the operator paths on every port but the admin ones, when <c>Admin:Urls</c> is set.</summary>
    public static IApplicationBuilder UseAdminPort(this WebApplication app)
    {
        var ports = Entries(app.Configuration[UrlsKey]).Select(Parse).OfType<BindingAddress>().Select(a => a.Port).ToHashSet();
        if (ports.Count == 0) return app;
        return app.Use(async (context, next) =>
        {
            if (!ports.Contains(context.Connection.LocalPort) && IsOperatorPath(context.Request.Path))
            {
                await Errors.Problem.WriteAsync(context, 404, "admin_port_only",
                    "This endpoint is served only on the operator's port (Admin:Urls).");
                return;
            }
            await next(context);
        });
    }

    internal static bool IsOperatorPath(PathString path)
    {
        foreach (var prefix in OperatorPaths)
            if (path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}
