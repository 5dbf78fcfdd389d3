using System.Globalization;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>Defensive readers of provider JSON: a missing or mistyped field is null, never an exception.</summary>
internal static class JsonFields
{
    public static JsonElement? Get(this JsonElement element, params string[] path)
    {
        var current = element;
        foreach (var name in path)
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out var next)) return null;
            current = next;
        }
        return current.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined ? null : current;
    }

    public static string? String(this JsonElement element, params string[] path) =>
        element.Get(path) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    /// <summary>A string field, or the <c>id</c> of an expanded object in its place (Stripe expands <c>customer</c> on request).</summary>
    public static string? IdOrString(this JsonElement element, params string[] path) =>
        element.Get(path) switch
        {
            { ValueKind: JsonValueKind.String } s => s.GetString(),
            { ValueKind: JsonValueKind.Object } o => o.String("id"),
            _ => null,
        };

    public static bool Bool(this JsonElement element, params string[] path) =>
        element.Get(path) is { ValueKind: JsonValueKind.True };

    /// <summary>Unix seconds (Stripe).</summary>
    public static DateTimeOffset? UnixTime(this JsonElement element, params string[] path) =>
        element.Get(path) is { ValueKind: JsonValueKind.Number } n && n.TryGetInt64(out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    /// <summary>RFC 3339 text (Paddle).</summary>
    public static DateTimeOffset? Rfc3339(this JsonElement element, params string[] path) =>
        element.String(path) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : null;

    /// <summary>The first element of an array at <paramref name="path"/>.</summary>
    public static JsonElement? First(this JsonElement element, params string[] path) =>
        element.Get(path) is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() > 0 ? a[0] : null;
}
