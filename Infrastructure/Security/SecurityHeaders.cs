namespace Backstop.Infrastructure.Security;

/// <summary>
/// Headers every answer carries (<c>X-Content-Type-Options: nosniff</c>, <c>Referrer-Policy: no-referrer</c>), and on
/// the two HTML surfaces, <c>/docs</c> and <c>/hangfire</c>, a content security policy that lets them load only from
/// this server and never be framed (clickjacking the dashboard's buttons). Set when the request arrives, not from a
/// response-starting callback (a registration per request); the error handler, which clears the headers of a failed
/// response, sets them again (<see cref="Apply"/>). Answers that carry a secret (a new or rotated key, a one-time
/// code's send) add <c>Cache-Control: no-store</c> themselves (<see cref="NoStore"/>).
/// </summary>
internal static class SecurityHeaders
{
    /// <summary>
    /// Scalar and Hangfire's pages use inline scripts and styles of their own; what matters is that nothing comes
    /// from another host and that no other site can frame them.
    /// </summary>
    public const string HtmlPolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        Apply(context);
        return next(context);
    });

    public static void Apply(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        var path = context.Request.Path;
        if (path.StartsWithSegments("/docs") || path.StartsWithSegments("/hangfire"))
        {
            headers.ContentSecurityPolicy = HtmlPolicy;
            headers.XFrameOptions = "DENY";
        }
    }

    private static readonly HashSet<string> AudioTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "audio/mpeg", "audio/mp4", "audio/aac", "audio/wav", "audio/x-wav", "audio/webm", "audio/ogg", "audio/flac", "video/mp4", "video/webm",
    };

    /// <summary>
    /// The content type a stored recording is served with: the stored one when it is an audio (or audio-carrying
    /// video) type, else <c>application/octet-stream</c>. A stored type comes from the provider's download; were it
    /// <c>text/html</c>, a browser opening the link would run it on this server's origin.
    /// </summary>
    public static string DownloadContentType(string? stored)
    {
        var media = stored?.Split(';')[0].Trim();
        return media is not null && AudioTypes.Contains(media) ? media.ToLowerInvariant() : "application/octet-stream";
    }

    /// <summary>For an answer that carries a secret: no cache, shared or private, may keep it.</summary>
    public static void NoStore(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers.Pragma = "no-cache";
    }
}
