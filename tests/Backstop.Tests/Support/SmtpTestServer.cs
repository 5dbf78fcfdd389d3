using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace Backstop.Tests.Support;

/// <summary>
/// A small SMTP server on 127.0.0.1 speaking enough of RFC 5321 for MailKit (greeting, EHLO/HELO, MAIL, RCPT, DATA
/// with dot-unstuffing, RSET, NOOP, QUIT). Keeps every message it accepted; <see cref="RejectNextData"/> makes the
/// next DATA answers fail with a given reply (4yz transient, 5yz permanent).
/// </summary>
public sealed class SmtpTestServer : IAsyncDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource stop = new();
    private readonly List<(string To, string Reply)> rejections = [];
    private readonly Task acceptLoop;

    public SmtpTestServer()
    {
        listener.Start();
        acceptLoop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    public ConcurrentQueue<ReceivedMail> Received { get; } = new();

    /// <summary>The next <paramref name="times"/> messages to <paramref name="to"/> are refused at DATA with <paramref name="reply"/>.</summary>
    public void RejectNextData(string to, string reply, int times = 1)
    {
        lock (rejections)
            for (var i = 0; i < times; i++) rejections.Add((to, reply));
    }

    private string? NextRejection(IReadOnlyCollection<string> to)
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

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop.Token);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.Latin1);
        await using var writer = new StreamWriter(stream, Encoding.Latin1) { NewLine = "\r\n", AutoFlush = true };
        string? from = null;
        var to = new List<string>();
        try
        {
            await writer.WriteLineAsync("220 localhost ESMTP test server ready");
            while (await reader.ReadLineAsync(stop.Token) is { } line)
            {
                var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await writer.WriteLineAsync("250-localhost greets you");
                        await writer.WriteLineAsync("250-8BITMIME");
                        await writer.WriteLineAsync("250 SIZE 10485760");
                        break;
                    case "HELO":
                        await writer.WriteLineAsync("250 localhost");
                        break;
                    case "MAIL":
                        from = Address(line);
                        to.Clear();
                        await writer.WriteLineAsync("250 2.1.0 Ok");
                        break;
                    case "RCPT":
                        to.Add(Address(line));
                        await writer.WriteLineAsync("250 2.1.5 Ok");
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 End data with <CR><LF>.<CR><LF>");
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync(stop.Token) is { } dataLine && dataLine != ".")
                            data.Append(dataLine.StartsWith("..", StringComparison.Ordinal) ? dataLine[1..] : dataLine).Append("\r\n");
                        if (NextRejection(to) is { } reply)
                        {
                            await writer.WriteLineAsync(reply);
                            break;
                        }
                        var message = await MimeMessage.LoadAsync(new MemoryStream(Encoding.Latin1.GetBytes(data.ToString())));
                        Received.Enqueue(new ReceivedMail(from ?? "", [.. to], message));
                        await writer.WriteLineAsync("250 2.0.0 Ok: queued");
                        break;
                    case "RSET":
                        from = null;
                        to.Clear();
                        await writer.WriteLineAsync("250 2.0.0 Ok");
                        break;
                    case "NOOP":
                        await writer.WriteLineAsync("250 2.0.0 Ok");
                        break;
                    case "QUIT":
                        await writer.WriteLineAsync("221 2.0.0 Bye");
                        return;
                    default:
                        await writer.WriteLineAsync("502 5.5.2 Command not recognized");
                        break;
                }
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
    }

    private static string Address(string line)
    {
        var start = line.IndexOf('<');
        var end = line.IndexOf('>', start + 1);
        return start >= 0 && end > start ? line[(start + 1)..end] : "";
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        try { await acceptLoop; } catch (OperationCanceledException) { }
        stop.Dispose();
    }
}

public sealed record ReceivedMail(string From, IReadOnlyList<string> To, MimeMessage Message);
