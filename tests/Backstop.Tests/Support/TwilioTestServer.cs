using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Backstop.Tests.Support;

/// <summary>
/// A local Kestrel server speaking Twilio's Messages API: <c>POST /2010-04-01/Accounts/{sid}/Messages.json</c>,
/// form-encoded, HTTP Basic. Records every request; answers 201 with a new <c>SM…</c> sid unless the test queued
/// another answer (<see cref="Enqueue"/>): a status, an error body <c>{code, message, status}</c>, a Retry-After.
/// </summary>
public sealed class TwilioTestServer : IAsyncDisposable
{
    public const string AccountSid = "AC00000000000000000000000000000001";
    public const string AuthToken = "twilio-test-auth-token";
    public const string From = "+15005550006";

    private readonly WebApplication app;
    private readonly List<Answer> answers = [];

    private TwilioTestServer(WebApplication app) => this.app = app;

    public ConcurrentQueue<TwilioRequest> Requests { get; } = new();

    /// <summary>Requests that Twilio accepted (answered 201).</summary>
    public IEnumerable<TwilioRequest> Accepted => Requests.Where(r => r.Sid is not null);

    public string BaseUrl => app.Urls.First();

    public static async Task<TwilioTestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new TwilioTestServer(app);
        app.MapPost("/2010-04-01/Accounts/{account}/Messages.json", server.HandleAsync);
        await app.StartAsync();
        return server;
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

    private async Task HandleAsync(HttpContext context, string account)
    {
        var form = await context.Request.ReadFormAsync();
        var fields = form.ToDictionary(f => f.Key, f => f.Value.ToString());
        var auth = context.Request.Headers.Authorization.ToString();
        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{AccountSid}:{AuthToken}"));
        if (account != AccountSid || auth != expected)
        {
            Requests.Enqueue(new TwilioRequest(account, fields, auth, null, 401));
            await Write(context, 401, """{"code":20003,"message":"Authenticate","status":401}""");
            return;
        }

        if (NextAnswer(fields.GetValueOrDefault("To")) is { } answer)
        {
            Requests.Enqueue(new TwilioRequest(account, fields, auth, null, answer.Status));
            if (answer.RetryAfterSeconds is { } ra) context.Response.Headers.RetryAfter = ra.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Write(context, answer.Status,
                $$"""{"code":{{answer.Code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}},"message":"{{answer.Message ?? "error"}}","more_info":"https://www.twilio.com/docs/errors","status":{{answer.Status}}}""");
            return;
        }

        var sid = "SM" + Guid.NewGuid().ToString("N");
        Requests.Enqueue(new TwilioRequest(account, fields, auth, sid, 201));
        await Write(context, 201,
            $$"""{"sid":"{{sid}}","account_sid":"{{account}}","to":"{{fields.GetValueOrDefault("To")}}","from":"{{fields.GetValueOrDefault("From")}}","status":"queued","body":"","error_code":null}""");
    }

    private static Task Write(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private sealed record Answer(string To, int Status, int? Code, string? Message, int? RetryAfterSeconds);
}

public sealed record TwilioRequest(string Account, IReadOnlyDictionary<string, string> Form, string Authorization, string? Sid, int Status);
