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

/// <summary>A local Deepgram (WireMock.Net): <c>POST /v1/listen</c> answers a fresh <c>request_id</c>; every request is kept.</summary>
public sealed class DeepgramFake : IDisposable
{
    public const string ApiKey = "deepgram-test-key";

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

    public void Dispose() => server.Stop();
}
