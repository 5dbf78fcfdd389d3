using WireMock;
using WireMock.Logging;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Types;
using WireMock.Util;

namespace Backstop.Tests.Support;

/// <summary>
/// A local Recall.ai (WireMock.Net) speaking the parts of its REST API that Backstop calls, recording every request,
/// and keeping each bot's state as Recall does (PROVIDERS.md):
/// <list type="bullet">
/// <item>a bot created with <c>join_at</c> is scheduled: <c>ready</c>, not dispatched until <see cref="Dispatch"/>;
/// <c>DELETE</c> removes it (204), <c>PATCH</c> moves its <c>join_at</c>; once dispatched both answer 405;</item>
/// <item>a bot created without <c>join_at</c> is dispatched at once and in the call (<c>in_call_recording</c>);</item>
/// <item><c>leave_call</c> before the bot joined answers 400 <c>cannot_command_unstarted_bot</c>, after it finished 400
/// <c>cannot_command_completed_bot</c>; in the call it answers 200 and the bot is <c>done</c>;</item>
/// <item><c>GET</c> answers the bot's current status; its recording (served at <c>/media/{botId}.mp3</c> with
/// <see cref="AudioBytes"/>) only once it is <c>done</c>; a bot it does not know is 404;</item>
/// <item>a recording served as a storage host may serve it (<see cref="SetMedia"/>): stalling after its headers, larger than
/// the app's cap, redirected on the same host or to another one, or on another host altogether;</item>
/// <item><c>Idempotency-Key</c> on creation: a repeat of a completed key answers the first answer (the same bot), a
/// repeat while the first is in flight 409; failures (507) are not kept, so a retry with a new key creates a bot.</item>
/// </list>
/// What it answers to a bot creation follows from the meeting URL, so tests of one class can share it:
/// a URL containing <c>recall-500</c>, <c>recall-507</c>, <c>recall-429</c> or <c>recall-timeout</c> gets that failure
/// (507 and 429 with <c>Retry-After</c>). Bots the fake did not create (ids from tests) are taken as ad-hoc bots in the
/// call, except ids containing <c>completed</c>, which are finished, and ids containing <c>unknown</c>, which it answers 404.
/// </summary>
public sealed class RecallFake : IDisposable
{
    public const string ApiKey = "recall-test-key";
    public static readonly byte[] AudioBytes = Enumerable.Range(0, 48_000).Select(i => (byte)(i * 7 % 251)).ToArray();

    private static readonly string[] Joined = ["in_waiting_room", "in_call_not_recording", "in_call_recording"];
    private static readonly string[] Finished = ["call_ended", "done", "fatal"];

    private readonly WireMockServer server = WireMockServer.Start();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FakeBot> bots = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> idempotency = new();
    private readonly object gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> deleted = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, MediaBehaviour> media = new();
    private readonly StallingMediaServer stalling = new();

    /// <summary>How the fake serves a bot's recording (see <see cref="SetMedia"/>).</summary>
    public enum MediaBehaviour
    {
        /// <summary>The <see cref="AudioBytes"/> from the fake's own host.</summary>
        Normal,
        /// <summary>Headers (with the full Content-Length) and the first kilobyte, then nothing until the fake is disposed.</summary>
        Stall,
        /// <summary><see cref="LargeBytes"/> bytes, with their Content-Length.</summary>
        Large,
        /// <summary>302 to the normal recording on the same host.</summary>
        RedirectSameHost,
        /// <summary>302 to another host.</summary>
        RedirectAway,
        /// <summary>A link on another host name of this machine (<see cref="OtherHost"/>), serving the normal recording.</summary>
        OtherHost,
        /// <summary>
        /// No link: the bot is <c>done</c> but its recording's <c>media_shortcuts.audio_mixed</c> and <c>video_mixed</c> are
        /// null, as Recall shows them while the media is still being processed, or once it expired (7 days by default).
        /// </summary>
        Unavailable,
        /// <summary>Headers (with the full Content-Length) and the first kilobyte, then the connection is closed: a body cut short.</summary>
        Truncated,
        /// <summary>Headers and the first kilobyte, then the rest once the test calls <see cref="ReleaseHeld"/> (a copy the test finishes when it likes).</summary>
        Held,
        /// <summary>A plain-HTTP link on a storage host that is not this machine (<see cref="RemoteMediaHost"/>); nothing serves it.</summary>
        PlainHttpRemote,
    }

    /// <summary>An S3 host name a test may allow in <c>Recall:MediaHosts</c>; links on it are never fetched (refused before connecting).</summary>
    public const string RemoteMediaHost = "backstop-recordings.s3.amazonaws.com";

    public const int LargeBytes = 200_000;

    /// <summary>A bot as the fake holds it.</summary>
    public sealed class FakeBot(string id, string? joinAt, bool dispatched, string status)
    {
        public string Id { get; } = id;
        public string? JoinAt { get; set; } = joinAt;
        public bool Dispatched { get; set; } = dispatched;
        public List<string> Statuses { get; } = [status];
        public string Status => Statuses[^1];
    }

    public RecallFake()
    {
        server.Given(Request.Create().WithPath("/api/v1/bot/").UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(Create));
        Fail("recall-500", 500, null);
        Fail("recall-507", 507, "17");
        Fail("recall-429", 429, "9");
        server.Given(Request.Create().WithPath("/api/v1/bot/").UsingPost().WithBody(new WildcardMatcher("*recall-timeout*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(201).WithBody("{\"id\":\"bot_too_late\"}").WithDelay(TimeSpan.FromSeconds(8)));

        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingGet())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = BotIdIn(request.Path);
                return Known(id) ? Json(200, View(Bot(id))) : Json(404, new { detail = "Not found." });
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingDelete())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = BotIdIn(request.Path);
                lock (gate)
                {
                    if (!Known(id)) return Json(404, new { detail = "Not found." });
                    if (Bot(id).Dispatched) return Json(405, new { detail = "Method \"DELETE\" not allowed." });
                    bots.TryRemove(id, out _);
                    deleted[id] = true;
                    return new ResponseMessage { StatusCode = 204 };
                }
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingPatch())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = BotIdIn(request.Path);
                lock (gate)
                {
                    if (!Known(id)) return Json(404, new { detail = "Not found." });
                    var bot = Bot(id);
                    if (bot.Dispatched) return Json(405, new { detail = "Method \"PATCH\" not allowed." });
                    using var body = JsonDocument.Parse(request.Body ?? "{}");
                    if (body.RootElement.TryGetProperty("join_at", out var joinAt)) bot.JoinAt = joinAt.GetString();
                    return Json(200, View(bot));
                }
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/media/large/.+\\.mp3$")).UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "audio/mpeg").WithBody(new byte[LargeBytes]));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/media/redirect/.+\\.mp3$")).UsingGet())
            .RespondWith(Response.Create().WithCallback(request => new ResponseMessage
            {
                StatusCode = 302,
                Headers = new Dictionary<string, WireMockList<string>> { ["Location"] = new("/media/" + request.Path.Split('/')[^1] + "?X-Amz-Signature=abc") },
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/media/away/.+\\.mp3$")).UsingGet())
            .RespondWith(Response.Create().WithCallback(request => new ResponseMessage
            {
                StatusCode = 302,
                Headers = new Dictionary<string, WireMockList<string>> { ["Location"] = new($"{OtherHostUrl}/media/{request.Path.Split('/')[^1]}") },
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/media/.+\\.mp3$")).UsingGet()).AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "audio/mpeg").WithBody(AudioBytes));

        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/leave_call/$")).UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = BotIdIn(request.Path);
                lock (gate)
                {
                    if (!Known(id)) return Json(404, new { detail = "Not found." });
                    var bot = Bot(id);
                    if (Finished.Contains(bot.Status))
                        return Json(400, new { code = "cannot_command_completed_bot", detail = "Cannot command completed bot." });
                    if (!Joined.Contains(bot.Status))
                        return Json(400, new { code = "cannot_command_unstarted_bot", detail = "Cannot command unstarted bot." });
                    bot.Statuses.Add("call_ended");
                    bot.Statuses.Add("done");
                    return Json(200, new { });
                }
            }));
    }

    private ResponseMessage Create(IRequestMessage request)
    {
        var key = request.Headers is { } headers && headers.TryGetValue("Idempotency-Key", out var values) ? values.ToString() : null;
        if (key is not null)
        {
            lock (gate)
            {
                if (idempotency.TryGetValue(key, out var first))
                    return first is null ? Json(409, new { detail = "A request with this idempotency key is in progress." }) : Json(201, View(bots[first]));
                idempotency[key] = null;
            }
        }
        // Recall takes a moment to create a bot: a repeat of the key meanwhile is in flight.
        Thread.Sleep(50);
        using var body = JsonDocument.Parse(request.Body ?? "{}");
        var joinAt = body.RootElement.TryGetProperty("join_at", out var j) ? j.GetString() : null;
        var id = "bot_" + Guid.NewGuid().ToString("N");
        var bot = joinAt is null ? new FakeBot(id, null, dispatched: true, "in_call_recording") : new FakeBot(id, joinAt, dispatched: false, "ready");
        bots[id] = bot;
        if (key is not null) idempotency[key] = id;
        return Json(201, View(bot));
    }

    /// <summary>Recall knows every bot it created and not deleted; ids containing <c>unknown</c> it never heard of.</summary>
    private bool Known(string id) => !deleted.ContainsKey(id) && !id.Contains("unknown", StringComparison.Ordinal);

    private FakeBot Bot(string id) =>
        bots.GetOrAdd(id, i => i.Contains("completed", StringComparison.Ordinal) ? new FakeBot(i, null, true, "done") : new FakeBot(i, null, true, "in_call_recording"));

    private object View(FakeBot bot) => new
    {
        id = bot.Id,
        join_at = bot.JoinAt,
        status_changes = bot.Statuses.Select(code => new { code, sub_code = (string?)null, created_at = "2026-11-23T12:30:00Z" }).ToArray(),
        recordings = bot.Status == "done"
            ? new object[]
            {
                new
                {
                    id = "rec_" + bot.Id,
                    media_shortcuts = media.GetValueOrDefault(bot.Id) == MediaBehaviour.Unavailable
                        ? (object)new { audio_mixed = (object?)null, video_mixed = (object?)null }
                        : new { audio_mixed = new { data = new { download_url = MediaUrl(bot.Id) } } },
                },
            }
            : [],
    };

    /// <summary>The pre-signed link the fake gives for a bot's recording, as <see cref="SetMedia"/> chose.</summary>
    public string MediaUrl(string botId) => media.GetValueOrDefault(botId) switch
    {
        MediaBehaviour.Stall => $"http://{Host}:{stalling.Port}/media/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.Truncated => $"http://{Host}:{stalling.Port}/media/truncated/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.Held => $"http://{Host}:{stalling.Port}/media/held/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.PlainHttpRemote => $"http://{RemoteMediaHost}/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.Large => $"{Url}/media/large/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.RedirectSameHost => $"{Url}/media/redirect/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.RedirectAway => $"{Url}/media/away/{botId}.mp3?X-Amz-Signature=abc",
        MediaBehaviour.OtherHost => $"{OtherHostUrl}/media/{botId}.mp3?X-Amz-Signature=abc",
        _ => $"{Url}/media/{botId}.mp3?X-Amz-Signature=abc",
    };

    /// <summary>How the fake serves this bot's recording from now on.</summary>
    public void SetMedia(string botId, MediaBehaviour behaviour) => media[botId] = behaviour;

    /// <summary>The host name of the fake's own address (its media host).</summary>
    public string Host => new Uri(Url).Host;

    /// <summary>The same machine under its other loopback name (<c>localhost</c> ↔ <c>127.0.0.1</c>): another host.</summary>
    public string OtherHost => Host == "localhost" ? "127.0.0.1" : "localhost";

    public string OtherHostUrl => $"http://{OtherHost}:{new Uri(Url).Port}";

    /// <summary>Completes when a stalling download has received its headers and first bytes.</summary>
    public Task StallStarted => stalling.Started.Task;

    /// <summary>Completes when a held download (<see cref="MediaBehaviour.Held"/>) has received its headers and first bytes.</summary>
    public Task HeldStarted => stalling.HeldStarted.Task;

    /// <summary>Sends the rest of every held download.</summary>
    public void ReleaseHeld() => stalling.Release.TrySetResult();

    private static string BotIdIn(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries)[3];

    /// <summary>The fake's state of a bot (created by the fake or implied by a test's id).</summary>
    public FakeBot BotState(string botId) => Bot(botId);

    /// <summary>Recall dispatches a scheduled bot (shortly before its <c>join_at</c>): it is joining now.</summary>
    public void Dispatch(string botId)
    {
        lock (gate)
        {
            var bot = Bot(botId);
            bot.Dispatched = true;
            bot.Statuses.Add("joining_call");
        }
    }

    /// <summary>The bot reaches a status (<c>in_call_recording</c>, <c>done</c>, <c>fatal</c>…); any status past <c>ready</c> means dispatched.</summary>
    public void SetStatus(string botId, string status)
    {
        lock (gate)
        {
            var bot = Bot(botId);
            bot.Dispatched = true;
            bot.Statuses.Add(status);
        }
    }

    public bool Exists(string botId) => Known(botId) && bots.ContainsKey(botId);

    public string Url => server.Urls[0];

    private void Fail(string marker, int status, string? retryAfter)
    {
        var response = Response.Create().WithStatusCode(status).WithHeader("Content-Type", "application/json").WithBody("{\"detail\":\"fake failure\"}");
        if (retryAfter is not null) response = response.WithHeader("Retry-After", retryAfter);
        server.Given(Request.Create().WithPath("/api/v1/bot/").UsingPost().WithBody(new WildcardMatcher("*" + marker + "*")))
            .AtPriority(1)
            .RespondWith(response);
    }

    private static ResponseMessage Json(int status, object body) => new()
    {
        StatusCode = status,
        Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
        BodyData = new BodyData { DetectedBodyType = BodyType.String, BodyAsString = JsonSerializer.Serialize(body) },
    };

    public IReadOnlyList<ILogEntry> Requests => server.LogEntries.ToList();

    /// <summary>Bot creations received whose body names this meeting (id or URL).</summary>
    public IReadOnlyList<ILogEntry> CreateCalls(string containing) =>
        Requests.Where(e => e.RequestMessage.Path == "/api/v1/bot/" && e.RequestMessage.Method == "POST" &&
                            (e.RequestMessage.Body ?? "").Contains(containing, StringComparison.Ordinal)).ToList();

    /// <summary>
    /// The creations received for this meeting once <paramref name="count"/> are in the log: WireMock logs a request
    /// when its (possibly delayed) answer is sent, which can be after the client gave up on it.
    /// </summary>
    public async Task<IReadOnlyList<ILogEntry>> CreateCallsEventuallyAsync(string containing, int count)
    {
        for (var i = 0; i < 200 && CreateCalls(containing).Count < count; i++) await Task.Delay(50);
        return CreateCalls(containing);
    }

    public IReadOnlyList<ILogEntry> LeaveCalls(string botId) =>
        Requests.Where(e => e.RequestMessage.Path == $"/api/v1/bot/{botId}/leave_call/" && e.RequestMessage.Method == "POST").ToList();

    public IReadOnlyList<ILogEntry> Deletes(string botId) =>
        Requests.Where(e => e.RequestMessage.Path == $"/api/v1/bot/{botId}/" && e.RequestMessage.Method == "DELETE").ToList();

    public IReadOnlyList<ILogEntry> Patches(string botId) =>
        Requests.Where(e => e.RequestMessage.Path == $"/api/v1/bot/{botId}/" && e.RequestMessage.Method == "PATCH").ToList();

    public static string BotIdOf(ILogEntry createCall) =>
        JsonDocument.Parse(createCall.ResponseMessage.BodyData?.BodyAsString ?? "{}").RootElement.TryGetProperty("id", out var id) ? id.GetString()! : "";

    public void Dispose()
    {
        server.Stop();
        stalling.Dispose();
    }

    /// <summary>
    /// A download that stalls as a slow storage host does: it answers the headers (with the whole Content-Length) and
    /// the first kilobyte, then sends nothing more until disposed. WireMock cannot stop in the middle of a body, hence a socket.
    /// </summary>
    private sealed class StallingMediaServer : IDisposable
    {
        private readonly System.Net.Sockets.TcpListener listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource HeldStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Port { get; }

        public StallingMediaServer()
        {
            listener.Start();
            Port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            _ = AcceptAsync();
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var client = await listener.AcceptTcpClientAsync(stop.Token);
                    _ = ServeAsync(client);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
            }
        }

        private async Task ServeAsync(System.Net.Sockets.TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    var request = "";
                    while (!request.Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await stream.ReadAsync(buffer, stop.Token);
                        if (n == 0) return;
                        request += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
                    }
                    var path = request.Split(' ', 3)[1];
                    var head = $"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: {AudioBytes.Length}\r\n\r\n";
                    await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head), stop.Token);
                    await stream.WriteAsync(AudioBytes.AsMemory(0, 1024), stop.Token);
                    await stream.FlushAsync(stop.Token);
                    // Cut short: the connection closes with the body 1 KB into its Content-Length.
                    if (path.StartsWith("/media/truncated/", StringComparison.Ordinal)) return;
                    if (path.StartsWith("/media/held/", StringComparison.Ordinal))
                    {
                        HeldStarted.TrySetResult();
                        await Release.Task.WaitAsync(stop.Token);
                        await stream.WriteAsync(AudioBytes.AsMemory(1024), stop.Token);
                        await stream.FlushAsync(stop.Token);
                        return;
                    }
                    Started.TrySetResult();
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
                {
                }
            }
        }

        public void Dispose()
        {
            stop.Cancel();
            listener.Stop();
        }
    }
}

/// <summary>
/// A local Deepgram (WireMock.Net): <c>POST /v1/listen</c> answers a fresh <c>request_id</c>; every request is kept.
/// Its callbacks are what Deepgram posts (<see cref="Callback"/>: every word with timing, confidence and speaker,
/// the paragraphs and the utterances that repeat them), delivered like Deepgram delivers them (<see cref="DeliverCallbackAsync"/>).
/// </summary>
public sealed class DeepgramFake : IDisposable
{
    public const string ApiKey = "deepgram-test-key";

    /// <summary>Deepgram's delivery attempts of one callback: the first and 9 retries on any non-2xx (PROVIDERS.md).</summary>
    public const int CallbackAttempts = 10;

    private static readonly string[] Vocabulary =
    [
        "so", "the", "quarterly", "numbers", "look", "good", "but", "we", "need", "to", "discuss", "budget", "for", "next", "year",
        "marketing", "agreed", "engineering", "hiring", "plan", "is", "on", "track", "customers", "asked", "about", "pricing",
        "roadmap", "let's", "move", "action", "items", "please", "send", "notes", "after", "meeting", "thanks", "everyone", "question",
    ];

    private readonly WireMockServer server = WireMockServer.Start();

    public DeepgramFake()
    {
        server.Given(Request.Create().WithPath("/v1/listen").UsingPost())
            .RespondWith(Response.Create().WithCallback(_ => new ResponseMessage
            {
                StatusCode = 200,
                Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
                BodyData = new BodyData { DetectedBodyType = BodyType.String, BodyAsString = JsonSerializer.Serialize(new { request_id = Guid.NewGuid().ToString() }) },
            }));
    }

    public string Url => server.Urls[0];

    public IReadOnlyList<ILogEntry> Requests => server.LogEntries.ToList();

    /// <summary>What a generated callback holds, for the test to compare with what was stored.</summary>
    public sealed record GeneratedCallback(byte[] Body, int Words, int Speakers, string FirstPunctuatedWord, string LastWord);

    /// <summary>
    /// A callback as Deepgram posts it for <paramref name="duration"/> of speech (<c>smart_format</c>, <c>diarize</c>,
    /// <c>utterances</c>, nova-3 multilingual): <paramref name="wordsPerMinute"/> (a lively meeting: 180), each word with
    /// <c>word</c>, <c>start</c>, <c>end</c>, <c>confidence</c>, <c>speaker</c>, <c>speaker_confidence</c>,
    /// <c>punctuated_word</c>, <c>language</c>; the paragraphs and utterances repeat them. Deterministic (seeded); 4 hours make about 15 MB at 180 words a minute, about 20 MB at 240.
    /// </summary>
    public static GeneratedCallback Callback(string requestId, string transcriptionId, TimeSpan duration, int speakers = 4, int wordsPerMinute = 180, int seed = 42)
    {
        var random = new Random(seed);
        var count = (int)(duration.TotalMinutes * wordsPerMinute);
        var words = new List<Dictionary<string, object>>(count);
        var t = 0.0;
        var step = duration.TotalSeconds / Math.Max(count, 1);
        var speaker = 0;
        for (var i = 0; i < count; i++)
        {
            if (i % 40 == 0) speaker = random.Next(speakers);
            var word = Vocabulary[random.Next(Vocabulary.Length)];
            var punctuated = i % 12 == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : i % 12 == 11 ? word + "." : word;
            words.Add(new Dictionary<string, object>
            {
                // Deepgram's numbers are single-precision floats, printed as such (0.79999995, 1234.5599).
                ["word"] = word, ["start"] = (float)(t + random.NextDouble() * 0.01), ["end"] = (float)(t + step * 0.9 + random.NextDouble() * 0.01),
                ["confidence"] = (float)(0.8 + random.NextDouble() * 0.2),
                ["speaker"] = speaker, ["speaker_confidence"] = (float)(0.5 + random.NextDouble() * 0.5), ["punctuated_word"] = punctuated,
                ["language"] = "en",
            });
            t += step;
        }
        var transcript = string.Join(' ', words.Select(w => (string)w["punctuated_word"]));
        var turns = words.Select((w, i) => (w, i)).GroupBy(x => x.i / 40).Select(g => g.Select(x => x.w).ToList()).ToList();
        string Text(List<Dictionary<string, object>> ws) => string.Join(' ', ws.Select(w => (string)w["punctuated_word"]));
        var body = new
        {
            metadata = new
            {
                transaction_key = "deprecated", request_id = requestId, sha256 = "5324da68ede209a16ac69a38e8cd29cee4d754434a041166cda3a1f5e0b24566",
                created = "2026-11-23T12:40:00.000Z", duration = Math.Round(duration.TotalSeconds, 3), channels = 1, models = new[] { "1ed36bac-f71c-4f3f-a31f-02fd6525c489" },
                model_info = new Dictionary<string, object> { ["1ed36bac-f71c-4f3f-a31f-02fd6525c489"] = new { name = "general-nova-3", version = "2024-12-20.0", arch = "nova-3" } },
                extra = new Dictionary<string, string> { ["backstop_transcription"] = transcriptionId },
            },
            results = new
            {
                channels = new[]
                {
                    new
                    {
                        alternatives = new[]
                        {
                            new
                            {
                                transcript, confidence = 0.97, words,
                                paragraphs = new
                                {
                                    transcript = string.Join("\n\n", turns.Select(turn => $"Speaker {turn[0]["speaker"]}: {Text(turn)}")),
                                    paragraphs = turns.Select(turn => new
                                    {
                                        sentences = turn.Chunk(12).Select(c => new { text = Text(c.ToList()), start = c[0]["start"], end = c[^1]["end"] }),
                                        speaker = turn[0]["speaker"], num_words = turn.Count, start = turn[0]["start"], end = turn[^1]["end"],
                                    }),
                                },
                            },
                        },
                    },
                },
                utterances = turns.Select((turn, i) => new
                {
                    start = turn[0]["start"], end = turn[^1]["end"], confidence = 0.95, channel = 0, transcript = Text(turn), words = turn,
                    speaker = turn[0]["speaker"], id = new Guid(i, 0, 0, new byte[8]).ToString(),
                }),
            },
        };
        return new GeneratedCallback(JsonSerializer.SerializeToUtf8Bytes(body), count, words.Select(w => (int)w["speaker"]).Distinct().Count(),
            (string)words[0]["punctuated_word"], (string)words[^1]["word"]);
    }

    /// <summary>
    /// Posts a callback as Deepgram does: <c>POST</c> of the JSON to the callback URL, again on any non-2xx answer,
    /// <see cref="CallbackAttempts"/> times in all (Deepgram waits 30 s between them; the fake does not wait).
    /// Answers the status of every attempt.
    /// </summary>
    public static async Task<IReadOnlyList<int>> DeliverCallbackAsync(HttpClient target, string callbackUrl, byte[] body)
    {
        var statuses = new List<int>();
        var uri = new Uri(callbackUrl);
        for (var attempt = 0; attempt < CallbackAttempts; attempt++)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await target.PostAsync(target.BaseAddress is null ? uri : new Uri(uri.PathAndQuery, UriKind.Relative), content);
            statuses.Add((int)response.StatusCode);
            if (response.IsSuccessStatusCode) break;
        }
        return statuses;
    }

    public void Dispose() => server.Stop();
}
