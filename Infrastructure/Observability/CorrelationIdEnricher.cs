using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Prometheus;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Backstop.Infrastructure.Observability;

/// <summary>
/// Puts the current request's id (<c>X-Request-Id</c>, see <see cref="ObservabilityExtensions.UseRequestId"/>) on every
/// log event written while it is served, as <c>CorrelationId</c>, and its path as <c>RequestPath</c>. Read when an
/// event is written, so a request that logs nothing pays nothing.
/// </summary>
internal sealed class CorrelationIdEnricher(IHttpContextAccessor http) : Serilog.Core.ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, Serilog.Core.ILogEventPropertyFactory factory)
    {
        if (http.HttpContext is not { } context) return;
        if (context.TraceIdentifier is { Length: > 0 } id)
            logEvent.AddPropertyIfAbsent(factory.CreateProperty("CorrelationId", id));
        logEvent.AddPropertyIfAbsent(factory.CreateProperty("RequestPath", context.Request.Path.ToString()));
    }
}
