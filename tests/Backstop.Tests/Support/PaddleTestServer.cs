using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
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
/// Paddle Billing's API on a local WireMock.Net server, for the calls Backstop makes, behaving as Paddle does
/// (developer.paddle.com, API reference and error pages; each rule has a test in <c>PaddleTestServerTests</c>):
/// <list type="bullet">
/// <item>Bearer authentication: no <c>Authorization</c> header → 403 <c>authentication_missing</c>; another scheme → 403
/// <c>authentication_malformed</c>; a key other than <see cref="ApiKey"/> → 403 <c>invalid_token</c>;</item>
/// <item>errors as <c>{"error":{"type","code","detail","documentation_url"},"meta":{"request_id"}}</c>;</item>
/// <item><c>POST /subscriptions/{id}/cancel</c>: an unknown id → 404 <c>not_found</c>; a canceled subscription → 400
/// <c>subscription_is_canceled_action_invalid</c>; <c>{"effective_from":"immediately"}</c> cancels now (status
/// <c>canceled</c>, <c>canceled_at</c>); otherwise (no body or <c>next_billing_period</c>) the subscription stays as it is
/// with a <c>scheduled_change</c> of action <c>cancel</c> at the period's end; answers <c>{"data": subscription}</c>;</item>
/// <item>faults on demand (<see cref="FailNext"/>): a 500 <c>internal_error</c> or a 429 <c>too_many_requests</c> with
/// <c>Retry-After</c>, the request not applied.</item>
/// </list>
/// Every request is recorded in <see cref="Requests"/>; <see cref="Cancellations"/> counts the cancels applied.
/// </summary>
public sealed class PaddleTestServer : IAsyncDisposable
{
    public const string ApiKey = "pdl_sdbx_apikey_01backstoptestfake_0123456789abcdef";

    private static readonly Regex CancelPath = new("^/subscriptions/([^/]+)/cancel$");

    private readonly List<(int Status, string? SubscriptionId)> faults = [];
    private int cancellations;

    private PaddleTestServer(WireMockServer server) => Server = server;

    public WireMockServer Server { get; }

    public string BaseUrl => Server.Url!;

    /// <summary>Paddle's clock (<c>canceled_at</c>, the period's end); set it to the app's fake clock.</summary>
    public Func<DateTimeOffset> Clock { get; set; } = () => DateTimeOffset.UtcNow;

    public ConcurrentQueue<PaddleRequest> Requests { get; } = new();

    /// <summary>Paddle's side of subscriptions, by id.</summary>
    public ConcurrentDictionary<string, PaddleSubscription> Subscriptions { get; } = new();

    /// <summary>How many cancels changed a subscription (immediate or scheduled).</summary>
    public int Cancellations => Volatile.Read(ref cancellations);

    public static Task<PaddleTestServer> StartAsync()
    {
        var server = new PaddleTestServer(WireMockServer.Start(new WireMockServerSettings { Urls = ["http://127.0.0.1:0"] }));
        server.Server.Given(Request.Create().WithPath(new RegexMatcher(".*"))).RespondWith(Response.Create().WithCallback(server.Answer));
        return Task.FromResult(server);
    }

    /// <summary>A subscription Paddle has (status <c>active</c> unless told).</summary>
    public void PlantSubscription(string id, string status = "active", string customerId = "ctm_01backstoptest")
    {
        var now = Clock();
        Subscriptions[id] = new PaddleSubscription(id, customerId, status, now.AddDays(-1), now.AddDays(29));
    }

    /// <summary>The next request (to <paramref name="subscriptionId"/>'s routes, or any) answers <paramref name="status"/> (500 or 429) without being applied.</summary>
    public void FailNext(int status, string? subscriptionId = null)
    {
        if (status is not (500 or 429)) throw new ArgumentOutOfRangeException(nameof(status), "500 or 429");
        lock (faults) faults.Add((status, subscriptionId));
    }

    /// <summary>The requests to cancel <paramref name="subscriptionId"/>.</summary>
    public IReadOnlyList<PaddleRequest> CancelsOf(string subscriptionId) =>
        Requests.Where(r => r.Method == "POST" && r.Path == $"/subscriptions/{subscriptionId}/cancel").ToList();

    private ResponseMessage Answer(IRequestMessage request)
    {
        var path = request.AbsolutePath;
        var authorization = request.Headers?.FirstOrDefault(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase)).Value is { } values
            ? string.Join(",", values)
            : null;
        var body = request.Body ?? "";
        var (status, json) = Handle(request.Method, path, authorization, body);
        Requests.Enqueue(new PaddleRequest(request.Method, path, authorization, body, status));
        var response = new ResponseMessage
        {
            StatusCode = status,
            BodyData = new BodyData { BodyAsString = json, DetectedBodyType = BodyType.String, Encoding = Encoding.UTF8 },
        };
        response.AddHeader("Content-Type", "application/json");
        if (status == 429) response.AddHeader("Retry-After", "7");
        return response;
    }

    private (int Status, string Json) Handle(string method, string path, string? authorization, string body)
    {
        if (string.IsNullOrEmpty(authorization)) return Error(403, "request_error", "authentication_missing", "Authentication header missing.");
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal))
            return Error(403, "request_error", "authentication_malformed", "Authentication header included, but incorrectly formatted.");
        if (authorization["Bearer ".Length..] != ApiKey) return Error(403, "request_error", "invalid_token", "Invalid or revoked API key.");

        var cancel = CancelPath.Match(path);
        if (TakeFault(cancel.Success ? cancel.Groups[1].Value : null) is { } fault)
            return fault == 429
                ? Error(429, "request_error", "too_many_requests", "IP address exceeded the allowed rate limit. Retry after the number of seconds in the Retry-After header.")
                : Error(500, "api_error", "internal_error", "An internal error has occurred, our team have been notified. Please try again later.");
        if (method != "POST" || !cancel.Success) return Error(404, "request_error", "not_found", $"Entity {path} not found");

        var id = Uri.UnescapeDataString(cancel.Groups[1].Value);
        string? effectiveFrom = null;
        if (body.Length > 0)
        {
            try
            {
                using var document = JsonDocument.Parse(body);
                if (document.RootElement.ValueKind != JsonValueKind.Object) return Error(400, "request_error", "bad_request", "Invalid request.");
                if (document.RootElement.TryGetProperty("effective_from", out var e)) effectiveFrom = e.ValueKind == JsonValueKind.String ? e.GetString() : "?";
            }
            catch (JsonException)
            {
                return Error(400, "request_error", "bad_request", "Invalid request.");
            }
        }
        if (effectiveFrom is not (null or "immediately" or "next_billing_period"))
            return Error(400, "request_error", "invalid_field", "effective_from must be one of: immediately, next_billing_period");

        lock (Subscriptions)
        {
            if (!Subscriptions.TryGetValue(id, out var subscription)) return Error(404, "request_error", "not_found", $"Entity {id} not found");
            if (subscription.Status == "canceled")
                return Error(400, "request_error", "subscription_is_canceled_action_invalid", "action can't be performed on canceled subscription");
            subscription = effectiveFrom == "immediately"
                ? subscription with { Status = "canceled", CanceledAt = Clock(), ScheduledCancelAt = null }
                : subscription with { ScheduledCancelAt = subscription.PeriodEnd };
            Subscriptions[id] = subscription;
            Interlocked.Increment(ref cancellations);
            return (200, JsonSerializer.Serialize(new { data = subscription.ToJson(), meta = new { request_id = Guid.NewGuid().ToString() } }));
        }
    }

    private int? TakeFault(string? subscriptionId)
    {
        lock (faults)
        {
            var index = faults.FindIndex(f => f.SubscriptionId is null || f.SubscriptionId == subscriptionId);
            if (index < 0) return null;
            var status = faults[index].Status;
            faults.RemoveAt(index);
            return status;
        }
    }

    private static (int, string) Error(int status, string type, string code, string detail) =>
        (status, JsonSerializer.Serialize(new
        {
            error = new { type, code, detail, documentation_url = $"https://developer.paddle.com/errors/shared/{code}" },
            meta = new { request_id = Guid.NewGuid().ToString() },
        }));

    public ValueTask DisposeAsync()
    {
        Server.Stop();
        Server.Dispose();
        return ValueTask.CompletedTask;
    }
}

public sealed record PaddleRequest(string Method, string Path, string? Authorization, string Body, int Status);

public sealed record PaddleSubscription(string Id, string CustomerId, string Status, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd,
    DateTimeOffset? CanceledAt = null, DateTimeOffset? ScheduledCancelAt = null)
{
    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public object ToJson() => new Dictionary<string, object?>
    {
        ["id"] = Id, ["status"] = Status, ["customer_id"] = CustomerId,
        ["canceled_at"] = CanceledAt is { } c ? Time(c) : null,
        ["current_billing_period"] = Status == "canceled" ? null : new Dictionary<string, string> { ["starts_at"] = Time(PeriodStart), ["ends_at"] = Time(PeriodEnd) },
        ["scheduled_change"] = ScheduledCancelAt is { } s ? new Dictionary<string, object?> { ["action"] = "cancel", ["effective_at"] = Time(s), ["resume_at"] = null } : null,
    };
}
