using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Backstop.Infrastructure.Observability;

/// <summary>
/// The host's logger factory, except that the category <c>Microsoft.AspNetCore.Hosting.Diagnostics</c> gets no logger
/// (unless <c>Observability:TraceEveryRequest</c> is true). Whenever that logger is enabled at any level, ASP.NET Core
/// opens a log scope and starts an <see cref="Activity"/> for every request (a twentieth of the CPU of a cached
/// <c>GET /v1/me</c>), to give its own "Request starting" and "Request finished" lines (below the Warning level
/// configured for <c>Microsoft.AspNetCore</c>) and every line of the request a RequestId and RequestPath. Backstop
/// writes its own request line (<c>Backstop.Requests</c>) and puts <c>CorrelationId</c> and <c>RequestPath</c> on every
/// line of a request (<see cref="CorrelationIdEnricher"/>).
/// <para>What the default gives up, documented in the README: without that Activity a request's log lines carry no
/// trace and span ids, an incoming <c>traceparent</c> is not continued and outgoing calls carry none, unless something
/// in the process listens for activities (an OpenTelemetry tracer), which starts them as before. The category's other
/// lines (a warning that URLS overrides HTTP_PORTS, hosting-startup assembly errors) are not written either; a startup
/// exception still is, by <c>Program</c>. <c>Observability:TraceEveryRequest=true</c> restores the framework's
/// behaviour at that cost.</para>
/// </summary>
internal sealed class QuietHostingLoggerFactory(ILoggerFactory inner, bool ownsInner, bool quiet) : ILoggerFactory
{
    public const string Category = "Microsoft.AspNetCore.Hosting.Diagnostics";
    public const string TraceEveryRequestKey = "Observability:TraceEveryRequest";

    /// <summary>Wraps the last <see cref="ILoggerFactory"/> registered so far (Serilog's).</summary>
    public static void Decorate(IServiceCollection services)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory) && !d.IsKeyedService)
            ?? throw new InvalidOperationException("No ILoggerFactory is registered.");
        services.Remove(original);
        services.AddSingleton<ILoggerFactory>(sp =>
        {
            // A value that is not a boolean is reported by the start-up check (the rule below); here it means false.
            var quiet = !(bool.TryParse(sp.GetRequiredService<IConfiguration>()[TraceEveryRequestKey], out var trace) && trace);
            return original switch
            {
                { ImplementationInstance: ILoggerFactory instance } => new QuietHostingLoggerFactory(instance, ownsInner: false, quiet),
                { ImplementationFactory: { } factory } => new QuietHostingLoggerFactory((ILoggerFactory)factory(sp), ownsInner: true, quiet),
                _ => new QuietHostingLoggerFactory(
                    (ILoggerFactory)ActivatorUtilities.CreateInstance(sp, original.ImplementationType!), ownsInner: true, quiet),
            };
        });
    }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) =>
        quiet && string.Equals(categoryName, Category, StringComparison.Ordinal)
            ? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance
            : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        if (ownsInner) inner.Dispose();
    }
}
