using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Backstop.Infrastructure.Observability;

internal static class ObservabilityExtensions
{
    public const string RequestIdHeader = "X-Request-Id";

    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        // preserveStaticLogger: each host gets its own logger, so several hosts in one process (tests) do not fight
        // over the static Log.Logger; sinks registered as ILogEventSink services are picked up too.
        // The levels of appsettings.json, in code too: without the file the framework's four Information lines per
        // request (health probes included) would come back. The file and the environment still override them.
        services.AddSerilog((sp, lc) => lc
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", LogEventLevel.Warning)
            .MinimumLevel.Override("Hangfire", LogEventLevel.Information)
            .MinimumLevel.Override("System.Net.Http.HttpClient", LogEventLevel.Warning)
            .ReadFrom.Configuration(sp.GetRequiredService<IConfiguration>())
            .ReadFrom.Services(sp)
            .Enrich.FromLogContext()
            .WriteTo.Console(new RenderedCompactJsonFormatter()), preserveStaticLogger: true);
        QuietHostingLoggerFactory.Decorate(services);
        services.AddConfigurationRule(c => c[QuietHostingLoggerFactory.TraceEveryRequestKey] is { } v && !bool.TryParse(v, out _)
            ? [$"{QuietHostingLoggerFactory.TraceEveryRequestKey}: '{v}' is not true or false."]
            : []);
        services.AddCheckedOptions<ObservabilityOptions>(ObservabilityOptions.Section);
        services.AddKnownSetting(QuietHostingLoggerFactory.TraceEveryRequestKey);
        services.AddSingleton<MetricsAccess>();
        services.AddHostedService<MetricsWarmup>();
        services.AddHttpContextAccessor();
        services.AddSingleton<Serilog.Core.ILogEventEnricher, CorrelationIdEnricher>();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return services;
    }

    /// <summary>
    /// Takes the caller's <c>X-Request-Id</c> when it is a sane token (else makes one), uses it as the request's
    /// trace identifier, returns it on the response and puts it on every log line of the request.
    /// </summary>
    public static IApplicationBuilder UseRequestId(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var given = context.Request.Headers[RequestIdHeader].ToString();
        string id;
        if (IsSafe(given))
        {
            // The client's id correlates its lines and answers; the service's own goes beside it, for the records
            // that must not take an id a client chose (the audit log), and only for requests that bring one.
            id = given;
            context.Features.Set(new ClientRequestId(NewRequestId(), given));
        }
        else
        {
            id = NewRequestId();
        }
        context.TraceIdentifier = id;
        // Set now rather than when the response starts (a callback per request); the error handler, which clears the
        // headers of a failed response, sets it again (Errors.ErrorHandling).
        context.Response.Headers[RequestIdHeader] = id;
        // CorrelationId on the request's log lines comes from CorrelationIdEnricher (the trace identifier), not a
        // log-context push: that is an async-local change on every request, logged or not.
        await next(context);
    });

    /// <summary>The service's own request id (<see cref="Ours"/>) of a request whose <c>X-Request-Id</c> the client chose.</summary>
    internal sealed record ClientRequestId(string Ours, string Client);

    /// <summary>The service's own id of the request: the trace identifier, unless the client chose that.</summary>
    internal static string OwnRequestId(HttpContext context) => context.Features.Get<ClientRequestId>()?.Ours ?? context.TraceIdentifier;

    /// <summary>
    /// 32 hex digits from the shared pseudo-random generator: an id for correlating lines, not a secret, so it needs
    /// no system call for cryptographic randomness as <c>Guid.NewGuid</c> makes on every request; and random rather
    /// than counted, so the ids a client sees do not tell it how many requests this instance serves.
    /// </summary>
    internal static string NewRequestId()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    // Anything else could forge log lines or headers; such an id is replaced, not echoed.
    private static bool IsSafe(string id) =>
        id.Length is > 0 and <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');

    /// <summary>
    /// One line per request when its level is enabled: <c>HTTP {RequestMethod} {RequestPath} responded {StatusCode}
    /// in {Elapsed} ms</c> with <c>RemoteIp</c> and <c>Principal</c> (the key's public prefix or <c>admin</c>, never a
    /// secret), at Error for 5xx or an exception, Verbose for health probes and metrics scrapes, Information
    /// otherwise (an expected refusal too). In place of Serilog.AspNetCore's middleware, which opens a diagnostic
    /// context (an async-local collection) for every request even when its line will not be written: with the
    /// correlation id's log-context push it was a sixth of the CPU of a cached <c>GET /v1/me</c>. Here a request
    /// whose line is not written costs a timestamp and a level check.
    /// </summary>
    public static IApplicationBuilder UseBackstopRequestLogging(this IApplicationBuilder app)
    {
        // The host's logger (configured levels, test sinks); the static bootstrap logger would ignore Serilog:MinimumLevel.
        var logger = app.ApplicationServices.GetRequiredService<Serilog.ILogger>().ForContext("SourceContext", RequestLogSource);
        return app.Use(async (context, next) =>
        {
            var start = Stopwatch.GetTimestamp();
            Exception? error = null;
            try
            {
                await next(context);
            }
            catch (Exception e)
            {
                error = e;
                throw;
            }
            finally
            {
                var status = error is null ? context.Response.StatusCode : StatusCodes.Status500InternalServerError;
                var level = context.Items.ContainsKey(Errors.ErrorHandling.ExpectedRefusal) ? LogEventLevel.Information
                    : error is not null || status >= 500 ? LogEventLevel.Error
                    : context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/metrics") ? LogEventLevel.Verbose
                    : LogEventLevel.Information;
                if (logger.IsEnabled(level))
                {
                    var line = logger.ForContext("RemoteIp", context.Connection.RemoteIpAddress?.ToString());
                    if (context.User.Identity?.IsAuthenticated == true) line = line.ForContext("Principal", context.User.Identity.Name);
                    if (context.Features.Get<ClientRequestId>() is { } ids) line = line.ForContext("ServerRequestId", ids.Ours);
                    line.Write(level, error, "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0000} ms",
                        context.Request.Method, context.Request.Path.ToString(), status, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
        });
    }

    /// <summary>The <c>SourceContext</c> of the request lines (a <c>Serilog:MinimumLevel:Override</c> key).</summary>
    public const string RequestLogSource = "Backstop.Requests";

    public static WebApplication MapObservability(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealth });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteHealth });
        // Metrics name tenants' traffic and the service's internals: only from Observability:MetricsAllowFrom.
        var access = app.Services.GetRequiredService<MetricsAccess>();
        var clientIp = app.Services.GetRequiredService<Security.ClientIp>();
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/metrics"), branch => branch.Use(async (context, next) =>
        {
            if (!access.Allows(clientIp.Resolve(context)))
            {
                await Errors.Problem.WriteAsync(context, 403, "metrics_forbidden", "Metrics are served only to the addresses of Observability:MetricsAllowFrom.");
                return;
            }
            await next(context);
        }));
        app.MapMetrics("/metrics");
        return app;
    }

    private static Task WriteHealth(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString().ToLowerInvariant(),
                description = e.Value.Description,
            }),
        }, HealthJson));
    }

    // One instance: options built per call would rebuild the serializer's metadata for every probe.
    private static readonly JsonSerializerOptions HealthJson = new(JsonSerializerDefaults.Web);
}
