using System.Text;

namespace Backstop.Features.Bots;

/// <summary>
/// The form of a meeting link under which two links to the same meeting compare equal (the key of the "one active
/// bot per URL" index): scheme and host lower-cased, default port, fragment and trailing slash dropped, tracking
/// parameters removed. The path and the other parameters are kept as given: they identify the meeting (a Zoom
/// <c>pwd</c>, a Teams <c>context</c>), and Meet, Zoom and Teams do not promise their paths are case-insensitive.
/// </summary>
internal static class MeetingUrls
{
    /// <summary>Parameters that say where a link was clicked, never which meeting it is.</summary>
    private static readonly HashSet<string> Tracking = new(StringComparer.OrdinalIgnoreCase)
    {
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "igshid", "yclid",
        // Google's index of the signed-in account in this browser: the same Meet link for every participant.
        "authuser",
    };

    public static bool TryNormalize(string? input, out string normalized)
    {
        normalized = "";
        if (string.IsNullOrWhiteSpace(input)) return false;
        if (!Uri.TryCreate(input.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            return false;

        var builder = new StringBuilder();
        builder.Append(uri.Scheme.ToLowerInvariant()).Append("://").Append(uri.IdnHost.ToLowerInvariant());
        if (!uri.IsDefaultPort) builder.Append(':').Append(uri.Port);
        var path = uri.AbsolutePath.TrimEnd('/');
        builder.Append(path);

        var kept = uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(pair => !IsTracking(Uri.UnescapeDataString(pair.Split('=', 2)[0])))
            .ToList();
        if (kept.Count > 0) builder.Append('?').Append(string.Join('&', kept));
        normalized = builder.ToString();
        return true;
    }

    private static bool IsTracking(string name) =>
        name.StartsWith("utm_", StringComparison.OrdinalIgnoreCase) || Tracking.Contains(name);
}
