using System.Text.Json.Serialization;

namespace Backstop.Infrastructure.Errors;

/// <summary>An RFC 9457 problem details body with Backstop's stable machine-readable <see cref="Code"/>.</summary>
internal sealed record Problem(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    string? Instance,
    string? RequestId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IDictionary<string, string[]>? Errors = null)
{
    public const string ContentType = "application/problem+json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Problem For(HttpContext context, int status, string code, string detail, IDictionary<string, string[]>? errors = null) =>
        new("urn:backstop:problem:" + code, TitleFor(status), status, detail, code, context.Request.Path.Value, context.TraceIdentifier, errors);

    /// <summary>Writes the problem as the whole response; the caller must not have started the response.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string code, string detail,
        IDictionary<string, string[]>? errors = null, IDictionary<string, string>? headers = null,
        IReadOnlyDictionary<string, object?>? extensions = null)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        if (headers is not null)
            foreach (var (name, value) in headers) context.Response.Headers[name] = value;
        var problem = For(context, status, code, detail, errors);
        var body = extensions is { Count: > 0 } ? WithExtensions(problem, extensions) : JsonSerializer.Serialize(problem, Json);
        await context.Response.WriteAsync(body, context.RequestAborted);
    }

    private static string WithExtensions(Problem problem, IReadOnlyDictionary<string, object?> extensions)
    {
        var node = JsonSerializer.SerializeToNode(problem, Json)!.AsObject();
        foreach (var (name, value) in extensions)
            if (!node.ContainsKey(name)) node[name] = JsonSerializer.SerializeToNode(value, Json);
        return node.ToJsonString(Json);
    }

    public static string TitleFor(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
    };

    public static string DefaultCode(int status) => status switch
    {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "service_unavailable",
        >= 500 => "internal_error",
        _ => "error",
    };
}
