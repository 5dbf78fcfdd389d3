using Backstop.Infrastructure.Errors;

namespace Backstop.Infrastructure.Api;

/// <summary>
/// What an endpoint declares about its answers in its <c>Configure()</c>, so the declaration travels with the
/// endpoint: <c>Description(d => d.Answers&lt;T&gt;(201).Problems(404, 409))</c>. What every endpoint of a kind
/// can answer (400 for unreadable input, 413 for too large a body, 401/403/429 from the API-key scheme) is added by
/// <see cref="BackstopOperationProcessor"/> and need not be repeated. See docs/api-description.md.
/// </summary>
public static class ApiDescription
{
    public const string Json = "application/json";

    /// <summary>The success answer: <typeparamref name="T"/> as JSON with <paramref name="status"/>.</summary>
    public static RouteHandlerBuilder Answers<T>(this RouteHandlerBuilder b, int status = 200) =>
        b.Produces<T>(status, Json);

    /// <summary>The success answer is <typeparamref name="T"/> in one of <paramref name="contentTypes"/>.</summary>
    public static RouteHandlerBuilder Answers<T>(this RouteHandlerBuilder b, int status, params string[] contentTypes) =>
        b.Produces<T>(status, contentTypes[0], contentTypes[1..]);

    /// <summary>The success answer is 204 without a body.</summary>
    public static RouteHandlerBuilder AnswersNoContent(this RouteHandlerBuilder b) => b.Produces(204);

    /// <summary>Problem+json answers (with a stable <c>code</c>) this endpoint's own rules can give.</summary>
    public static RouteHandlerBuilder Problems(this RouteHandlerBuilder b, params int[] statuses)
    {
        foreach (var status in statuses) b.Produces<Problem>(status, Problem.ContentType);
        return b;
    }
}
