using System.Text.Json;
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
/// A local Recall.ai (WireMock.Net) speaking the parts of its REST API that Backstop calls, recording every request.
/// What it answers to a bot creation follows from the meeting URL, so tests of one class can share it:
/// a URL containing <c>recall-500</c>, <c>recall-507</c>, <c>recall-429</c> or <c>recall-timeout</c> gets that failure.
/// Bots whose id contains <c>completed</c> answer <c>leave_call</c> with 400 <c>cannot_command_completed_bot</c>.
/// Media are served at <c>/media/{botId}.mp3</c> with <see cref="AudioBytes"/>.
/// </summary>
public sealed class RecallFake : IDisposable
{
    public const string ApiKey = "recall-test-key";
    public static readonly byte[] AudioBytes = Enumerable.Range(0, 48_000).Select(i => (byte)(i * 7 % 251)).ToArray();

    private readonly WireMockServer server = WireMockServer.Start();

    public RecallFake()
    {
        server.Given(Request.Create().WithPath("/api/v1/bot/").UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = "bot_" + Guid.NewGuid().ToString("N");
                return Json(201, new { id, status_changes = Array.Empty<object>(), recordings = Array.Empty<object>() });
            }).WithDelay(TimeSpan.FromMilliseconds(50)));
        Fail("recall-500", 500, null);
        Fail("recall-507", 507, "17");
        Fail("recall-429", 429, "9");
        server.Given(Request.Create().WithPath("/api/v1/bot/").UsingPost().WithBody(new WildcardMatcher("*recall-timeout*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(201).WithBody("{\"id\":\"bot_too_late\"}").WithDelay(TimeSpan.FromSeconds(8)));

        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/$")).UsingGet())
            .RespondWith(Response.Create().WithCallback(request =>
            {
                var id = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries)[3];
                return Json(200, new
                {
                    id,
                    status_changes = new[] { new { code = "done", sub_code = (string?)null, created_at = "2026-11-23T12:30:00Z" } },
                    recordings = new[]
                    {
                        new
                        {
                            id = "rec_" + id,
                            media_shortcuts = new { audio_mixed = new { data = new { download_url = $"{Url}/media/{id}.mp3?X-Amz-Signature=abc" } } },
                        },
                    },
                });
            }));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/media/.+\\.mp3$")).UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "audio/mpeg").WithBody(AudioBytes));

        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]+/leave_call/$")).UsingPost())
            .AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithBody("{}"));
        server.Given(Request.Create().WithPath(new RegexMatcher("^/api/v1/bot/[^/]*completed[^/]*/leave_call/$")).UsingPost())
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(400).WithHeader("Content-Type", "application/json")
                .WithBody("{\"code\":\"cannot_command_completed_bot\",\"detail\":\"Cannot command completed bot.\"}"));
    }

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

    public static string BotIdOf(ILogEntry createCall) =>
        JsonDocument.Parse(createCall.ResponseMessage.BodyData?.BodyAsString ?? "{}").RootElement.TryGetProperty("id", out var id) ? id.GetString()! : "";

    public void Dispose() => server.Stop();
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
