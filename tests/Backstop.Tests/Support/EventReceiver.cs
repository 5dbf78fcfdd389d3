using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Backstop.Tests.Support;

/// <summary>One request the receiver got: its path, headers (names lower-case) and body as sent.</summary>
public sealed record ReceivedEvent(string Path, IReadOnlyDictionary<string, string> Headers, string Body, string Method, string? ContentType);

/// <summary>
/// A consumer of Backstop's outbound events: Kestrel on 127.0.0.1 and a free port, recording every request
/// (<see cref="Received"/>) and answering, per path, the scripted answers in order (<see cref="Answer"/>: a status, an
/// optional <c>Retry-After</c>, a body; <see cref="Hang"/>: no answer until released or the caller gives up), then 200.
/// A consumer answers whatever it likes: nothing here is kinder than a real one (a hung answer never arrives
/// by itself; a redirect is a plain 3xx with a Location).
/// </summary>
public sealed class EventReceiver : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Script>> scripts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<TaskCompletionSource>> waiters = new(StringComparer.Ordinal);

    private EventReceiver(WebApplication app) => this.app = app;

    public int Port { get; private set; }

    public ConcurrentQueue<ReceivedEvent> Received { get; } = new();

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    /// <summary>The URL of <paramref name="path"/> under another host name (resolved by a test resolver).</summary>
    public string Url(string host, string path) => $"http://{host}:{Port}{path}";

    public IReadOnlyList<ReceivedEvent> At(string path) => Received.Where(r => r.Path == path).ToList();

    public static async Task<EventReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new EventReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Urls.Single();
        receiver.Port = new Uri(address).Port;
        return receiver;
    }

    /// <summary>The next request to <paramref name="path"/> is answered <paramref name="status"/> (after the ones scripted before).</summary>
    public void Answer(string path, int status, TimeSpan? retryAfter = null, string? body = null, string? location = null) =>
        scripts.GetOrAdd(path, _ => new()).Enqueue(new Script(status, retryAfter, body, location, null));

    /// <summary>The next request to <paramref name="path"/> gets no answer until the returned source is completed (then 200) or the caller aborts.</summary>
    public TaskCompletionSource Hang(string path)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        scripts.GetOrAdd(path, _ => new()).Enqueue(new Script(200, null, null, null, release));
        return release;
    }

    /// <summary>Completes once <paramref name="path"/> has received <paramref name="count"/> requests (already, or later).</summary>
    public Task WaitForAsync(string path, int count = 1)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (waiters)
        {
            if (At(path).Count >= count) return Task.CompletedTask;
            waiters.GetOrAdd(path, _ => []).Add(done);
            pendingCounts[done] = count;
        }
        return done.Task;
    }

    private readonly Dictionary<TaskCompletionSource, int> pendingCounts = [];

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var path = context.Request.Path.Value ?? "/";
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        lock (waiters)
        {
            Received.Enqueue(new ReceivedEvent(path, headers, body, context.Request.Method, context.Request.ContentType));
            if (waiters.TryGetValue(path, out var list))
            {
                var count = At(path).Count;
                foreach (var w in list.Where(w => pendingCounts[w] <= count).ToList())
                {
                    list.Remove(w);
                    pendingCounts.Remove(w);
                    w.TrySetResult();
                }
            }
        }

        var script = scripts.TryGetValue(path, out var queue) && queue.TryDequeue(out var next) ? next : new Script(200, null, "ok", null, null);
        if (script.Release is { } release)
        {
            try
            {
                await release.Task.WaitAsync(context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return; // the caller gave up
            }
        }
        context.Response.StatusCode = script.Status;
        if (script.RetryAfter is { } ra) context.Response.Headers.RetryAfter = ((long)ra.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        if (script.Location is { } location) context.Response.Headers.Location = location;
        if (script.Body is { } text) await context.Response.WriteAsync(text);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private sealed record Script(int Status, TimeSpan? RetryAfter, string? Body, string? Location, TaskCompletionSource? Release);
}
