namespace Backstop.Infrastructure.Api;

/// <summary>
/// What an endpoint declares about its answers in its <c>Configure()</c>, so the declaration travels with the
/// endpoint: <c>Description(d => d.Answers&lt;T&gt;(201).Problems(404, 409))</c>. What every endpoint of a kind
/// can answer (400 for unreadable input, 413 for too large a body, 401/403/429 from the API-key scheme) is added by
/// <see cref="BackstopOperationProcessor"/> and need not be repeated. See docs/api-description.md.
/// </summary>
internal static class ApiDescription
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

    /// <summary>
    /// For an endpoint type with several routes whose answers differ: the success answer on the routes
    /// <paramref name="route"/> accepts (it is given the route pattern, e.g. <c>/webhooks/twilio/sms</c>).
    /// </summary>
    public static RouteHandlerBuilder AnswersOn<T>(this RouteHandlerBuilder b, Func<string, bool> route, int status, string contentType = Json) =>
        b.On(route, new ProducesResponseTypeMetadata(status, typeof(T), [contentType]));

    /// <summary>For an endpoint type with several routes: problem answers only the routes <paramref name="route"/> accepts give.</summary>
    public static RouteHandlerBuilder ProblemsOn(this RouteHandlerBuilder b, Func<string, bool> route, params int[] statuses) =>
        b.On(route, [.. statuses.Select(s => new ProducesResponseTypeMetadata(s, typeof(Problem), [Problem.ContentType]))]);

    /// <summary>For an endpoint type with several routes: each route's own summary (else the endpoint's <c>Summary()</c>).</summary>
    public static RouteHandlerBuilder SummaryOn(this RouteHandlerBuilder b, Func<string, string?> summary)
    {
        b.Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder { RoutePattern.RawText: { } pattern } && summary(pattern) is { } text)
                endpoint.Metadata.Add(new EndpointSummaryAttribute(text));
        });
        return b;
    }

    private static RouteHandlerBuilder On(this RouteHandlerBuilder b, Func<string, bool> route, params ProducesResponseTypeMetadata[] answers)
    {
        b.Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder { RoutePattern.RawText: { } pattern } && route(pattern))
                foreach (var answer in answers) endpoint.Metadata.Add(answer);
        });
        return b;
    }
}
