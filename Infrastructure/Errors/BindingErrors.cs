using System.Text.RegularExpressions;
using FluentValidation.Results;
using Microsoft.Extensions.Primitives;

namespace Backstop.Infrastructure.Errors;

/// <summary>
/// Request binding failures in the caller's terms: the field (as named in JSON or the query string), what it must
/// be, and what came when that is known. System.Text.Json and FastEndpoints describe them with .NET type names
/// (<c>List`1[System.String]</c>, <c>[Int32]</c>, the request DTO's full name), which mean nothing to a client.
/// </summary>
internal static partial class BindingErrors
{
    [GeneratedRegex(@"could not be converted to (?<type>[^ ]+?)\.? Path:")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"not in a supported (?<type>\w+) format")]
    private static partial Regex SupportedFormat();

    [GeneratedRegex(@"token type '(?<token>\w+)' as a (?<type>\w+)")]
    private static partial Regex TokenAs();

    public static ValidationFailure FromJson(JsonException e)
    {
        var field = FieldOf(e.Path);
        var message = e.Message;
        if (e.InnerException is InvalidOperationException inner && TokenAs().Match(inner.Message) is { Success: true } token)
            return Failure(field, $"{Subject(field)} must be {Describe(token.Groups["type"].Value)} (got {Token(token.Groups["token"].Value)}).");
        if (ConvertedTo().Match(message) is { Success: true } converted)
            return Failure(field, $"{Subject(field)} must be {Describe(converted.Groups["type"].Value)}{Came(e.Path)}.");
        if (SupportedFormat().Match(message) is { Success: true } format)
            return Failure(field, $"{Subject(field)} must be {Describe(format.Groups["type"].Value)}{Came(e.Path)}.");
        var at = e.LineNumber is { } line && e.BytePositionInLine is { } position ? $" (line {line + 1}, position {position + 1})" : "";
        // A syntax error belongs to the body, not to the property the reader happened to be in.
        return Failure("request", $"The request body is not valid JSON{at}.");
    }

    /// <summary>
    /// " (got a string)": what the body holds at <paramref name="path"/>, read again from the buffered body (see
    /// <see cref="ErrorHandling"/>); empty when the body cannot be read again. The accessor is the framework's
    /// async-local one, so a new instance sees the current request.
    /// </summary>
    private static string Came(string? path)
    {
        var request = new HttpContextAccessor().HttpContext?.Request;
        if (request is null || !request.Body.CanSeek || path is null) return "";
        try
        {
            request.Body.Position = 0;
            using var doc = JsonDocument.Parse(request.Body);
            var element = doc.RootElement;
            foreach (Match step in PathStep().Matches(path))
            {
                if (step.Groups["name"].Success)
                {
                    if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(step.Groups["name"].Value, out element)) return "";
                }
                else
                {
                    var index = int.Parse(step.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    if (element.ValueKind != JsonValueKind.Array || index >= element.GetArrayLength()) return "";
                    element = element[index];
                }
            }
            return element.ValueKind switch
            {
                JsonValueKind.String => " (got a string)",
                JsonValueKind.Number => " (got a number)",
                JsonValueKind.True or JsonValueKind.False => " (got a boolean)",
                JsonValueKind.Array => " (got an array)",
                JsonValueKind.Object => " (got an object)",
                JsonValueKind.Null => " (got null)",
                _ => "",
            };
        }
        catch (Exception e) when (e is JsonException or IOException or FormatException or OverflowException or NotSupportedException or InvalidOperationException)
        {
            return "";
        }
    }

    [GeneratedRegex(@"\.(?<name>[^.\[]+)|\[(?<index>\d+)\]")]
    private static partial Regex PathStep();

    /// <summary>A query or route value that does not convert: <c>limit must be a whole number (got 'abc').</c></summary>
    public static string FailureMessage(Type type, string property, StringValues attempted) =>
        $"{JsonName(property)} must be {Describe(type)} (got '{Shorten(attempted.ToString())}').";

    private static ValidationFailure Failure(string field, string message) => new(field, message);

    private static string FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "request";
        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return field.Length == 0 ? "request" : field;
    }

    private static string Subject(string field) => field == "request" ? "The request body" : field;

    private static string JsonName(string property) =>
        property.Length > 0 ? char.ToLowerInvariant(property[0]) + property[1..] : property;

    private static string Shorten(string value) => value.Length > 50 ? value[..50] + "…" : value;

    private static string Token(string token) => token switch
    {
        "Number" => "a number",
        "String" => "a string",
        "True" or "False" => "a boolean",
        "StartArray" => "an array",
        "StartObject" => "an object",
        "Null" => "null",
        _ => token.ToLowerInvariant(),
    };

    private static string Describe(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return Describe(t.FullName ?? t.Name);
    }

    /// <summary>A .NET type name as a JSON shape.</summary>
    private static string Describe(string typeName)
    {
        var name = typeName.Replace("System.Nullable`1[", "").TrimEnd(']');
        if (typeName.Contains("List`1") || typeName.Contains("IEnumerable`1") || typeName.Contains("IReadOnlyList`1") || typeName.EndsWith("[]", StringComparison.Ordinal))
            return typeName.Contains("System.String") ? "an array of strings" : "an array";
        if (typeName.Contains("Dictionary`2")) return "an object";
        var simple = name[(name.LastIndexOf('.') + 1)..];
        return simple switch
        {
            "String" or "string" => "a string",
            "Int16" or "Int32" or "Int64" or "UInt16" or "UInt32" or "UInt64" or "Byte" or "int" or "long" => "a whole number",
            "Decimal" or "Double" or "Single" or "decimal" or "double" => "a number",
            "Boolean" or "bool" => "true or false",
            "DateTimeOffset" or "DateTime" => "a date-time in ISO 8601 such as 2026-01-31T12:00:00Z",
            "DateOnly" => "a date such as 2026-01-31",
            "TimeSpan" => "a duration such as 00:30:00",
            "Guid" => "a UUID",
            _ => "a JSON object",
        };
    }
}
