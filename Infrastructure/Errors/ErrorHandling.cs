using System.IO.Pipelines;
using FastEndpoints;
using FluentValidation.Results;
using Microsoft.AspNetCore.Http.Features;

namespace Backstop.Infrastructure.Errors;

internal static class ErrorHandling
{
    /// <summary>
    /// <c>HttpContext.Items</c> key set when the response is a refusal the operator chose by configuration (a provider
    /// left unconfigured): the request log then records it below Error, so it pages nobody.
    /// </summary>
    public const string ExpectedRefusal = "backstop:expected-refusal";

    /// <summary>
    /// Reads a JSON body whole before the endpoint binds it, kept readable, so that a binding error can say what the
    /// body held (BindingErrors); asynchronously here, because the binding error handler is synchronous and reading
    /// what a deserializer left unread would be synchronous I/O on the connection. Bodies are at most Kestrel's limit,
    /// in memory up to 30 KiB and in a temp file beyond. Placed after authentication and authorization: a request
    /// refused there never has its body read at all (an anonymous client cannot make the server buffer megabytes).
    /// </summary>
    public static IApplicationBuilder UseBufferedJsonBodies(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Request.HasJsonContentType())
        {
            context.Request.EnableBuffering();
            await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            context.Request.Body.Position = 0;
        }
        await next(context);
    });

    /// <summary>
    /// Turns every failure into problem+json: <see cref="ProblemException"/>s with their code, request-shape errors
    /// (bad JSON, too large a body) as 400/413, anything else as 500 with the request id and no internals.
    /// </summary>
    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        var refusals = new RefusalLog(app.ApplicationServices.GetRequiredService<TimeProvider>());
        app.Use(async (context, next) =>
        {
            var body = context.Features.Get<IHttpResponseBodyFeature>();
            if (body is not null) context.Features.Set<IHttpResponseBodyFeature>(new BodilessErrorsStayUnstarted(body, context.Response));
            try
            {
                await next(context);
            }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                if (e is OperationCanceledException && context.RequestAborted.IsCancellationRequested) return;
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Backstop.Errors");
                context.Response.Clear();
                context.Response.Headers[Observability.ObservabilityExtensions.RequestIdHeader] = context.TraceIdentifier;
                Security.SecurityHeaders.Apply(context);
                switch (e)
                {
                    case ProblemException p when RefusalLog.IsExpected(p.Code):
                        context.Items[ExpectedRefusal] = true;
                        if (refusals.ShouldLog(RefusalLog.KeyOf(p.Code, context.Request.Path)))
                            logger.LogWarning("{Path} refused with {Code}: {Detail} (logged once per {Minutes} minutes)",
                                context.Request.Path.Value, p.Code, p.Message, RefusalLog.Interval.TotalMinutes);
                        await Problem.WriteAsync(context, p.Status, p.Code, p.Message, headers: p.Headers, extensions: p.Extensions);
                        break;
                    case ProblemException p:
                        await Problem.WriteAsync(context, p.Status, p.Code, p.Message, headers: p.Headers, extensions: p.Extensions);
                        break;
                    case BadHttpRequestException bad:
                        await Problem.WriteAsync(context, bad.StatusCode, Problem.DefaultCode(bad.StatusCode),
                            bad.StatusCode == 413 ? "The request body is too large." : "The request could not be read.");
                        break;
                    default:
                        logger.LogError(e, "Unhandled exception while serving {Method} {Path}", context.Request.Method, context.Request.Path.Value);
                        await Problem.WriteAsync(context, 500, "internal_error",
                            $"An unexpected error occurred. Quote request id {context.TraceIdentifier} when reporting it.");
                        break;
                }
            }
        });

        // Responses that carry a status but no body (no route, wrong method, auth middleware) get a problem body too.
        app.UseStatusCodePages(async ctx =>
        {
            var http = ctx.HttpContext;
            var status = http.Response.StatusCode;
            var detail = status switch
            {
                404 => "No resource exists at this address.",
                405 => $"Method {http.Request.Method} is not allowed here.",
                415 => "The request's content type is not supported here.",
                _ => Problem.TitleFor(status) + ".",
            };
            await Problem.WriteAsync(http, status, Problem.DefaultCode(status), detail);
        });
        return app;
    }

    /// <summary>FastEndpoints' validation and binding failures, shaped like every other problem.</summary>
    public static object ValidationProblem(List<ValidationFailure> failures, HttpContext context, int status)
    {
        var errors = failures
            .GroupBy(f => string.IsNullOrEmpty(f.PropertyName) ? "request" : JsonName(f.PropertyName))
            .ToDictionary(g => g.Key, g => g.Select(f => f.ErrorMessage).ToArray());
        var code = failures.Select(f => f.ErrorCode).FirstOrDefault(c => c is not null && c.Contains('_') && c == c.ToLowerInvariant())
                   ?? "validation_failed";
        var detail = failures.Count == 1 ? failures[0].ErrorMessage : "The request has invalid fields; see errors.";
        return Problem.For(context, status, code, detail, errors);
    }

    private static string JsonName(string property) =>
        string.Join('.', property.Split('.').Select(p => p.Length > 0 ? char.ToLowerInvariant(p[0]) + p[1..] : p));

    public static void Configure(FastEndpoints.Config c)
    {
        c.Errors.StatusCode = 400;
        c.Errors.ContentType = Problem.ContentType;
        c.Errors.ProducesMetadataType = typeof(Problem);
        c.Errors.ResponseBuilder = ValidationProblem;
        c.Binding.JsonExceptionTransformer = BindingErrors.FromJson;
        c.Binding.FailureMessage = BindingErrors.FailureMessage;
    }

    /// <summary>
    /// Keeps an error status without a body from being sent early. FastEndpoints answers a JSON endpoint called
    /// without <c>Content-Type</c> with a bare 415 and starts the response at once, before the status code pages
    /// could give it a problem body; unstarted, the response reaches them like any other bodiless status.
    /// </summary>
    private sealed class BodilessErrorsStayUnstarted(IHttpResponseBodyFeature inner, HttpResponse response) : IHttpResponseBodyFeature
    {
        public Stream Stream => inner.Stream;
        public PipeWriter Writer => inner.Writer;
        public void DisableBuffering() => inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) =>
            response.StatusCode >= 400 && string.IsNullOrEmpty(response.ContentType) ? Task.CompletedTask : inner.StartAsync(cancellationToken);

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
            inner.SendFileAsync(path, offset, count, cancellationToken);

        public Task CompleteAsync() => inner.CompleteAsync();
    }

    /// <summary>One Warning per refusal kind (per webhook provider) and interval: a misdirected provider retrying all day would otherwise flood the log.</summary>
    internal sealed class RefusalLog(TimeProvider time)
    {
        public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> last = new();

        public static bool IsExpected(string code) => code is "provider_not_configured" or "sms_not_configured";

        public static string KeyOf(string code, PathString path) => code == "provider_not_configured" ? code + ":" + path.Value : code;

        public bool ShouldLog(string key)
        {
            var now = time.GetUtcNow();
            while (true)
            {
                if (!last.TryGetValue(key, out var previous))
                {
                    if (last.TryAdd(key, now)) return true;
                    continue;
                }
                if (now - previous < Interval) return false;
                if (last.TryUpdate(key, now, previous)) return true;
            }
        }
    }
}
