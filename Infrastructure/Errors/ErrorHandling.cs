using FastEndpoints;
using FluentValidation.Results;

namespace Backstop.Infrastructure.Errors;

public static class ErrorHandling
{
    /// <summary>
    /// Turns every failure into problem+json: <see cref="ProblemException"/>s with their code, request-shape errors
    /// (bad JSON, too large a body) as 400/413, anything else as 500 with the request id and no internals.
    /// </summary>
    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                if (e is OperationCanceledException && context.RequestAborted.IsCancellationRequested) return;
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Backstop.Errors");
                context.Response.Clear();
                switch (e)
                {
                    case ProblemException p:
                        await Problem.WriteAsync(context, p.Status, p.Code, p.Message, headers: p.Headers);
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
    }
}
