using System.Globalization;
using System.Text.Json.Nodes;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>How the console writes times, ages and payloads.</summary>
internal static class Format
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Time(DateTimeOffset? at) =>
        at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "—";

    /// <summary>"3 h 12 min ago": how long ago, to the minute.</summary>
    public static string Age(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } t) return "—";
        var age = now - t;
        if (age < TimeSpan.FromMinutes(1)) return "under a minute ago";
        if (age < TimeSpan.FromHours(1)) return $"{(int)age.TotalMinutes} min ago";
        if (age < TimeSpan.FromDays(2)) return $"{(int)age.TotalHours} h {age.Minutes} min ago";
        return $"{(int)age.TotalDays} days ago";
    }

    private const string LocalFormat = "yyyy-MM-dd'T'HH:mm";

    /// <summary>A time as a <c>datetime-local</c> input holds it (UTC, to the minute).</summary>
    public static string? Local(DateTimeOffset? at) => at?.UtcDateTime.ToString(LocalFormat, CultureInfo.InvariantCulture);

    /// <summary>A time typed into a <c>datetime-local</c> input, read as UTC (the console says so by each); empty is null.</summary>
    public static bool TryUtc(string? text, out DateTimeOffset? at)
    {
        at = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        // datetime-local sends minutes, or seconds when a step allows them.
        if (!DateTime.TryParseExact(text.Trim(), [LocalFormat, "yyyy-MM-dd'T'HH:mm:ss"], CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed))
            return false;
        at = new DateTimeOffset(DateTime.SpecifyKind(parsed, DateTimeKind.Utc));
        return true;
    }

    /// <summary>A JSON payload indented for reading; anything else as it is.</summary>
    public static string Pretty(string payload)
    {
        try
        {
            return JsonNode.Parse(payload)?.ToJsonString(Indented) ?? payload;
        }
        catch (JsonException)
        {
            return payload;
        }
    }
}
