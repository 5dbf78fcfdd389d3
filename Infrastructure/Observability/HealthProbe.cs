namespace Backstop.Infrastructure.Observability;

/// <summary>
/// <c>backstop healthcheck [url] [--urls …]</c>: exit 0 when the instance answers 200 on /health/ready, else 1 (2 for
/// a usage error). Without a url it probes where the service listens, read from the same settings the service reads
/// (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>urls</c>, <c>http_ports</c>, <c>Kestrel:Endpoints</c>), so a container
/// whose service moved off 8080 does not report itself unhealthy.
/// </summary>
internal static class HealthProbe
{
    public const string DefaultUrl = "http://127.0.0.1:8080/health/ready";

    public static async Task<int> RunAsync(string[] args)
    {
        // The first argument that is neither an option nor an option's value is the url.
        string? explicitUrl = null;
        var options = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg.StartsWith('-'))
            {
                options.Add(arg);
                if (!arg.Contains('=') && i + 1 < args.Length && !args[i + 1].StartsWith('-')) options.Add(args[++i]);
            }
            else if (explicitUrl is null) explicitUrl = arg;
            else
            {
                await Console.Error.WriteLineAsync($"healthcheck takes one url; '{arg}' is a second one.");
                return CommandLine.Usage;
            }
        }

        string url;
        try
        {
            url = explicitUrl ?? Environment.GetEnvironmentVariable("BACKSTOP_HEALTHCHECK_URL")
                  ?? FromConfiguration(BackstopConfiguration.ForCommand([.. options])) ?? DefaultUrl;
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"healthcheck: {e.Message}");
            return CommandLine.Usage;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            await Console.Error.WriteLineAsync($"healthcheck: '{url}' is not an http(s) url.");
            return CommandLine.Usage;
        }

        using var handler = new HttpClientHandler();
        // The probe talks to its own instance over loopback, where a development certificate is normal.
        if (uri.IsLoopback) handler.ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator;
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(uri);
            await Console.Out.WriteLineAsync($"{uri} answered {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await Console.Out.WriteLineAsync($"{uri} did not answer: {e.Message}");
            return 1;
        }
    }

    /// <summary>The readiness url of the first address the service would listen on, or null when none is configured.</summary>
    internal static string? FromConfiguration(IConfiguration configuration)
    {
        var listen = FirstOf(configuration["urls"])
                     ?? (FirstOf(configuration["http_ports"]) is { } port ? "http://127.0.0.1:" + port : null)
                     ?? configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).FirstOrDefault(u => !string.IsNullOrWhiteSpace(u));
        return listen is null ? null : ReadinessUrl(listen);
    }

    /// <summary><c>http://+:5000</c>, <c>http://*:5000</c>, <c>http://0.0.0.0:5000</c> are reached over loopback.</summary>
    internal static string ReadinessUrl(string listen)
    {
        var address = listen.Trim().TrimEnd('/');
        var schemeEnd = address.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0) throw new FormatException($"'{listen}' is not a url to listen on (expected e.g. http://+:8080).");
        var scheme = address[..schemeEnd];
        var rest = address[(schemeEnd + 3)..];
        var slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "" : rest[slash..];
        string host, port;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            host = authority[..(close + 1)];
            port = authority[(close + 1)..].TrimStart(':');
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon < 0 ? authority : authority[..colon];
            port = colon < 0 ? "" : authority[(colon + 1)..];
        }
        if (port == "0") throw new FormatException($"'{listen}' listens on a port chosen at start-up; pass the url to probe.");
        host = host switch
        {
            "*" or "+" or "0.0.0.0" or "" => "127.0.0.1",
            "[::]" => "[::1]",
            _ => host,
        };
        if (port.Length == 0) port = scheme == "https" ? "443" : "80";
        return $"{scheme}://{host}:{port}{path}/health/ready";
    }

    private static string? FirstOf(string? list) =>
        list?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .OrderBy(u => u.StartsWith("https", StringComparison.OrdinalIgnoreCase) ? 1 : 0)
            .FirstOrDefault();
}
