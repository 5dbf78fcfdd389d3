using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using WireMock;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Settings;
using WireMock.Types;
using WireMock.Util;

namespace Backstop.Tests.Support;

/// <summary>
/// Twilio's Messages API on a local WireMock.Net server: <c>POST /2010-04-01/Accounts/{sid}/Messages.json</c>,
/// form-encoded, HTTP Basic. Records every request; answers 201 with a new <c>SM…</c> sid unless the test queued
/// another answer (<see cref="Enqueue"/>): a status, an error body <c>{code, message, status}</c>, a Retry-After.
/// </summary>
public sealed class TwilioTestServer : IAsyncDisposable
{
    public const string AccountSid = "AC00000000000000000000000000000001";
    public const string AuthToken = "twilio-test-auth-token";
    public const string From = "+15005550006";

    private static readonly string ExpectedAuthorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AccountSid}:{AuthToken}"));

    private readonly List<Answer> answers = [];

    private TwilioTestServer(WireMockServer server) => Server = server;

    /// <summary>The WireMock server itself, for its raw <see cref="WireMockServer.LogEntries"/>.</summary>
    public WireMockServer Server { get; }

    public ConcurrentQueue<TwilioRequest> Requests { get; } = new();

    /// <summary>Requests that Twilio accepted (answered 201).</summary>
    public IEnumerable<TwilioRequest> Accepted => Requests.Where(r => r.Sid is not null);

    public string BaseUrl => Server.Url!;

    public static Task<TwilioTestServer> StartAsync()
    {
        // Port 0: Kestrel picks a free port and WireMock reports the one it bound.
        var server = new TwilioTestServer(WireMockServer.Start(new WireMockServerSettings { Urls = ["http://127.0.0.1:0"] }));
        server.Map();
        return Task.FromResult(server);
    }

    private void Map()
    {
        // The right account and credentials reach the queued answers or a 201; anything else on the route gets the
        // 401 Twilio gives (error 20003), so a wrong Basic header fails the send as it would in production.
        Server.Given(Request.Create().UsingPost()
                .WithPath($"/2010-04-01/Accounts/{AccountSid}/Messages.json")
                .WithHeader("Authorization", new ExactMatcher(ExpectedAuthorization)))
            .AtPriority(1)
            .RespondWith(Response.Create().WithCallback(Accept));
        Server.Given(Request.Create().UsingPost().WithPath(new RegexMatcher(@"^/2010-04-01/Accounts/[^/]+/Messages\.json$")))
            .AtPriority(2)
            .RespondWith(Response.Create().WithCallback(Refuse));
    }

    /// <summary>The next <paramref name="times"/> requests to <paramref name="to"/> get this answer instead of a 201.</summary>
    public void Enqueue(string to, int status, int? code = null, string? message = null, int? retryAfterSeconds = null, int times = 1)
    {
        lock (answers)
            for (var i = 0; i < times; i++) answers.Add(new Answer(to, status, code, message, retryAfterSeconds));
    }

    private Answer? NextAnswer(string? to)
    {
        lock (answers)
        {
            var answer = answers.FirstOrDefault(a => a.To == to);
            if (answer is not null) answers.Remove(answer);
            return answer;
        }
    }

    private ResponseMessage Accept(IRequestMessage request)
    {
        var (account, fields, auth) = Read(request);
        if (NextAnswer(fields.GetValueOrDefault("To")) is { } answer)
        {
            Requests.Enqueue(new TwilioRequest(account, fields, auth, null, answer.Status));
            var code = answer.Code?.ToString(CultureInfo.InvariantCulture) ?? "null";
            var error = Json(answer.Status,
                $$"""{"code":{{code}},"message":"{{answer.Message ?? "error"}}","more_info":"https://www.twilio.com/docs/errors","status":{{answer.Status}}}""");
            if (answer.RetryAfterSeconds is { } ra) error.AddHeader("Retry-After", ra.ToString(CultureInfo.InvariantCulture));
            return error;
        }

        var sid = "SM" + Guid.NewGuid().ToString("N");
        Requests.Enqueue(new TwilioRequest(account, fields, auth, sid, 201));
        return Json(201,
            $$"""{"sid":"{{sid}}","account_sid":"{{account}}","to":"{{fields.GetValueOrDefault("To")}}","from":"{{fields.GetValueOrDefault("From")}}","status":"queued","body":"","error_code":null}""");
    }

    private ResponseMessage Refuse(IRequestMessage request)
    {
        var (account, fields, auth) = Read(request);
        Requests.Enqueue(new TwilioRequest(account, fields, auth, null, 401));
        return Json(401, """{"code":20003,"message":"Authenticate","status":401}""");
    }

    private static (string Account, Dictionary<string, string> Form, string Authorization) Read(IRequestMessage request)
    {
        var fields = QueryHelpers.ParseQuery(request.Body ?? "").ToDictionary(f => f.Key, f => f.Value.ToString());
        var auth = request.Headers?.FirstOrDefault(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase)).Value is { } values ? string.Join(",", values) : "";
        return (request.PathSegments[2], fields, auth);
    }

    private static ResponseMessage Json(int status, string json)
    {
        var response = new ResponseMessage
        {
            StatusCode = status,
            BodyData = new BodyData { BodyAsString = json, DetectedBodyType = BodyType.String, Encoding = Encoding.UTF8 },
        };
        response.AddHeader("Content-Type", "application/json");
        return response;
    }

    public ValueTask DisposeAsync()
    {
        Server.Stop();
        Server.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Answer(string To, int Status, int? Code, string? Message, int? RetryAfterSeconds);
}

public sealed record TwilioRequest(string Account, IReadOnlyDictionary<string, string> Form, string Authorization, string? Sid, int Status);
