using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using MimeKit;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Net;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace Backstop.Tests.Support;

/// <summary>
/// An SMTP server (SmtpServer) on 127.0.0.1 and a free port. Keeps every message it accepted, parsed with MimeKit;
/// <see cref="RejectNextData"/> makes the next DATA answers fail with a given reply (4yz transient, 5yz permanent).
/// </summary>
public sealed class SmtpTestServer : IAsyncDisposable
{
    private readonly List<(string To, SmtpResponse Reply)> rejections = [];
    private readonly CancellationTokenSource stop = new();
    private readonly Task running;

    public SmtpTestServer()
    {
        var listeners = new EndpointListenerFactory();
        var bound = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        listeners.EndpointStarted += (_, e) => bound.TrySetResult(((IPEndPoint)e.LocalEndPoint).Port);

        var options = new SmtpServerOptionsBuilder()
            .ServerName("localhost")
            // Port 0: the listener binds a free port, which EndpointStarted reports.
            .Endpoint(b => b.Endpoint(new IPEndPoint(IPAddress.Loopback, 0)))
            .Build();
        var services = new ServiceProvider();
        services.Add(listeners);
        services.Add(new Store(this));
        running = new SmtpServer.SmtpServer(options, services).StartAsync(stop.Token);

        // The listener is created before StartAsync first yields; the wait only guards against that changing.
        var started = Task.WhenAny(bound.Task, running).GetAwaiter().GetResult();
        if (started != bound.Task) running.GetAwaiter().GetResult();
        Port = bound.Task.Result;
    }

    public int Port { get; }

    public ConcurrentQueue<ReceivedMail> Received { get; } = new();

    /// <summary>
    /// The next <paramref name="times"/> messages to <paramref name="to"/> are refused at DATA with
    /// <paramref name="reply"/>, an SMTP reply line such as <c>451 4.3.0 Try again later</c>.
    /// </summary>
    public void RejectNextData(string to, string reply, int times = 1)
    {
        var parts = reply.Split(' ', 2);
        if (parts[0].Length != 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code is < 400 or > 599)
            throw new ArgumentException($"'{reply}' is not a 4yz or 5yz SMTP reply.", nameof(reply));
        var response = new SmtpResponse((SmtpReplyCode)code, parts.Length > 1 ? parts[1] : "");
        lock (rejections)
            for (var i = 0; i < times; i++) rejections.Add((to, response));
    }

    private SmtpResponse? NextRejection(IReadOnlyCollection<string> to)
    {
        lock (rejections)
        {
            var index = rejections.FindIndex(r => to.Contains(r.To));
            if (index < 0) return null;
            var reply = rejections[index].Reply;
            rejections.RemoveAt(index);
            return reply;
        }
    }

    private sealed class Store(SmtpTestServer server) : MessageStore
    {
        public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            var to = transaction.To.Select(m => m.AsAddress()).ToList();
            if (server.NextRejection(to) is { } reply) return reply;

            // The buffer arrives dot-unstuffed and without the terminating ".".
            await using var stream = new MemoryStream(buffer.ToArray());
            var message = await MimeMessage.LoadAsync(stream, cancellationToken);
            server.Received.Enqueue(new ReceivedMail(transaction.From.AsAddress(), to, message));
            return new SmtpResponse(SmtpReplyCode.Ok, "2.0.0 Ok: queued");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try { await running; } catch (OperationCanceledException) { }
        stop.Dispose();
    }
}

public sealed record ReceivedMail(string From, IReadOnlyList<string> To, MimeMessage Message);
