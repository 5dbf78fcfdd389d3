using System.Text.Json.Serialization;

namespace Backstop.Infrastructure.Errors;

/// <summary>
/// Thrown by handlers for a business rule that stops the request: becomes a problem response with
/// <paramref name="status"/> and the stable <paramref name="code"/>.
/// </summary>
internal class ProblemException(int status, string code, string detail, IDictionary<string, string>? headers = null)
    : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public IDictionary<string, string>? Headers { get; } = headers;

    /// <summary>
    /// Extra members of the problem body (RFC 9457 extension members, camelCase), e.g. a grace end or the figures of a
    /// refused quota; they never replace the standard members.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? Extensions { get; init; }

    public static ProblemException NotFound(string what) => new(404, "not_found", $"{what} was not found.");
}
