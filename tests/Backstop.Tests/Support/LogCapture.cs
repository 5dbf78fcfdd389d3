using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace Backstop.Tests.Support;

/// <summary>A Serilog sink that keeps every event; register it as an <c>ILogEventSink</c> singleton (the app reads sinks from DI).</summary>
public sealed class LogCapture : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> events = new();

    public IReadOnlyList<LogEvent> Events => events.ToList();

    public void Emit(LogEvent logEvent) => events.Enqueue(logEvent);

    /// <summary>Each event rendered with its template, properties and exception, for "never appears" assertions.</summary>
    public IReadOnlyList<string> Rendered() => Events.Select(e =>
    {
        using var writer = new StringWriter();
        new Serilog.Formatting.Json.JsonFormatter(renderMessage: true).Format(e, writer);
        return writer.ToString() + e.Exception;
    }).ToList();
}
