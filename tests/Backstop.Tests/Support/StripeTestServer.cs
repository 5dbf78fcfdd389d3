using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Settings;
using WireMock.Types;
using WireMock.Util;

namespace Backstop.Tests.Support;

/// <summary>
/// Stripe's REST API on a local WireMock.Net server, for the calls Billing makes through Stripe.net
/// (<c>StripeClientOptions.ApiBase</c> points here). Speaks Stripe's protocol: form-encoded bodies with bracketed keys
/// (<c>line_items[0][price]</c>), Bearer authentication (401 <c>{"error":{…}}</c> otherwise), and idempotency: a
/// request repeating an <c>Idempotency-Key</c> gets the first answer again (marked <see cref="StripeRequest.Replayed"/>)
/// and runs no handler. Every request is recorded in <see cref="Requests"/>.
/// Tests register what a route answers with <see cref="On"/> (later registrations win); the defaults answer
/// customers, Checkout Sessions, subscription retrieve/update/cancel/list, subscription schedules and invoice previews
/// from the in-memory <see cref="Subscriptions"/> store, so a test can plant Stripe's side of a subscription.
/// </summary>
public sealed class StripeTestServer : IAsyncDisposable
{
    public const string ApiKey = "sk_test_backstop_fake";

    private readonly List<Route> routes = [];
    private readonly ConcurrentDictionary<string, StripeAnswer> byIdempotencyKey = new();
    private int sequence;

    private StripeTestServer(WireMockServer server) => Server = server;

    public WireMockServer Server { get; }

    public string BaseUrl => Server.Url!;

    public ConcurrentQueue<StripeRequest> Requests { get; } = new();

    /// <summary>Stripe's side of subscriptions, by id: a JSON object per subscription that the default routes read and update.</summary>
    public ConcurrentDictionary<string, Dictionary<string, object?>> Subscriptions { get; } = new();

    public static Task<StripeTestServer> StartAsync()
    {
        var server = new StripeTestServer(WireMockServer.Start(new WireMockServerSettings { Urls = ["http://127.0.0.1:0"] }));
        server.Server.Given(Request.Create().WithPath(new WireMock.Matchers.RegexMatcher(".*"))).RespondWith(Response.Create().WithCallback(server.Answer));
        server.MapDefaults();
        server.MapCheckoutLifecycle();
        return Task.FromResult(server);
    }

    /// <summary>A new Stripe-like id with <paramref name="prefix"/> (<c>cus</c>, <c>cs</c>, <c>sub</c>, …).</summary>
    public string NewId(string prefix) => $"{prefix}_test{Interlocked.Increment(ref sequence):D6}";

    /// <summary>What <paramref name="method"/> on a path matching <paramref name="pathPattern"/> (a regex, anchored) answers.</summary>
    public void On(string method, string pathPattern, Func<StripeRequest, StripeAnswer> answer)
    {
        lock (routes) routes.Insert(0, new Route(method, new Regex("^" + pathPattern + "$"), answer));
    }

    /// <summary>The requests that reached <paramref name="method"/> <paramref name="pathPattern"/> (regex, anchored), replays included.</summary>
    public IReadOnlyList<StripeRequest> Received(string method, string pathPattern)
    {
        var regex = new Regex("^" + pathPattern + "$");
        return Requests.Where(r => r.Method == method && regex.IsMatch(r.Path)).ToList();
    }

    private void MapDefaults()
    {
        On("POST", "/v1/customers", r => StripeAnswer.Ok(new Dictionary<string, object?>
        {
            ["id"] = NewId("cus"), ["object"] = "customer", ["email"] = r.Form.GetValueOrDefault("email"), ["metadata"] = r.Metadata(),
        }));
        On("POST", "/v1/checkout/sessions", r =>
        {
            var id = NewId("cs");
            return StripeAnswer.Ok(new Dictionary<string, object?>
            {
                ["id"] = id, ["object"] = "checkout.session", ["mode"] = r.Form.GetValueOrDefault("mode"), ["status"] = "open",
                ["customer"] = r.Form.GetValueOrDefault("customer"), ["url"] = $"https://checkout.stripe.com/c/pay/{id}",
                ["client_reference_id"] = r.Form.GetValueOrDefault("client_reference_id"), ["metadata"] = r.Metadata(),
            });
        });
        On("GET", "/v1/subscriptions/[^/]+", r => Subscriptions.TryGetValue(r.PathSegment(2), out var s) ? StripeAnswer.Ok(s) : StripeAnswer.NotFound("subscription", r.PathSegment(2)));
        On("POST", "/v1/subscriptions/[^/]+", r =>
        {
            if (!Subscriptions.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription", r.PathSegment(2));
            lock (s)
            {
                if (r.Form.TryGetValue("cancel_at_period_end", out var cancel)) s["cancel_at_period_end"] = cancel == "true";
                return StripeAnswer.Ok(new Dictionary<string, object?>(s));
            }
        });
        On("DELETE", "/v1/subscriptions/[^/]+", r =>
        {
            if (!Subscriptions.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription", r.PathSegment(2));
            lock (s)
            {
                s["status"] = "canceled";
                return StripeAnswer.Ok(new Dictionary<string, object?>(s));
            }
        });
        On("GET", "/v1/subscriptions", r =>
        {
            var all = Subscriptions.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Value).ToList();
            var after = r.Query.GetValueOrDefault("starting_after");
            var limit = int.TryParse(r.Query.GetValueOrDefault("limit"), out var l) ? l : 10;
            var rest = after is null ? all : all.SkipWhile(s => (string)s["id"]! != after).Skip(1).ToList();
            return StripeAnswer.Ok(new Dictionary<string, object?>
            {
                ["object"] = "list", ["url"] = "/v1/subscriptions", ["has_more"] = rest.Count > limit, ["data"] = rest.Take(limit).ToList(),
            });
        });
    }

    /// <summary>Plants Stripe's side of a subscription with one item of <paramref name="priceId"/> and its period on the item (API 2025-03-31 and later).</summary>
    public Dictionary<string, object?> PlantSubscription(string id, string customerId, string priceId, string status, DateTimeOffset periodStart, DateTimeOffset periodEnd, bool cancelAtPeriodEnd = false)
    {
        var subscription = new Dictionary<string, object?>
        {
            ["id"] = id, ["object"] = "subscription", ["customer"] = customerId, ["status"] = status,
            ["cancel_at_period_end"] = cancelAtPeriodEnd, ["created"] = periodStart.ToUnixTimeSeconds(),
            ["items"] = new Dictionary<string, object?>
            {
                ["object"] = "list",
                ["data"] = new List<object?>
                {
                    new Dictionary<string, object?>
                    {
                        ["id"] = "si_" + id, ["object"] = "subscription_item",
                        ["price"] = new Dictionary<string, object?> { ["id"] = priceId, ["object"] = "price" },
                        ["current_period_start"] = periodStart.ToUnixTimeSeconds(), ["current_period_end"] = periodEnd.ToUnixTimeSeconds(),
                    },
                },
            },
        };
        Subscriptions[id] = subscription;
        return subscription;
    }

    private ResponseMessage Answer(IRequestMessage message)
    {
        var request = StripeRequest.From(message);
        if (request.Authorization != "Bearer " + ApiKey)
        {
            Requests.Enqueue(request with { Status = 401 });
            return Write(StripeAnswer.Error(401, "invalid_request_error", "Invalid API Key provided."));
        }

        if (request.IdempotencyKey is { } key && byIdempotencyKey.TryGetValue(request.Method + " " + key, out var earlier))
        {
            Requests.Enqueue(request with { Status = earlier.Status, Replayed = true });
            return Write(earlier, replayed: true);
        }

        Route? route;
        lock (routes) route = routes.FirstOrDefault(r => r.Method == request.Method && r.Path.IsMatch(request.Path));
        var answer = route is null
            ? StripeAnswer.Error(404, "invalid_request_error", $"Unrecognized request URL ({request.Method}: {request.Path}).")
            : route.Answer(request);
        // Stripe keeps the first answer of a key (errors of the request itself included, 5xx excluded) for 24 hours.
        if (request.IdempotencyKey is { } k && answer.Status < 500) answer = byIdempotencyKey.GetOrAdd(request.Method + " " + k, answer);
        Requests.Enqueue(request with { Status = answer.Status });
        return Write(answer);
    }

    private static ResponseMessage Write(StripeAnswer answer, bool replayed = false)
    {
        var response = new ResponseMessage
        {
            StatusCode = answer.Status,
            BodyData = new BodyData { BodyAsString = answer.Json, DetectedBodyType = BodyType.String, Encoding = Encoding.UTF8 },
        };
        response.AddHeader("Content-Type", "application/json");
        response.AddHeader("Request-Id", "req_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant());
        if (replayed) response.AddHeader("Idempotent-Replayed", "true");
        return response;
    }

    public ValueTask DisposeAsync()
    {
        Server.Stop();
        Server.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Route(string Method, Regex Path, Func<StripeRequest, StripeAnswer> Answer);

    // ---- Billing lifecycle (billing branch): Checkout Sessions that live 24 hours and can be expired ----

    /// <summary>Stripe's side of Checkout Sessions, by id (status <c>open</c>, <c>expired</c>, <c>complete</c>).</summary>
    public ConcurrentDictionary<string, Dictionary<string, object?>> CheckoutSessions { get; } = new();

    private void MapCheckoutLifecycle()
    {
        // As Stripe: a session expires 24 hours after creation by default; only an open one can be expired.
        On("POST", "/v1/checkout/sessions", r =>
        {
            var id = NewId("cs");
            var session = new Dictionary<string, object?>
            {
                ["id"] = id, ["object"] = "checkout.session", ["mode"] = r.Form.GetValueOrDefault("mode"), ["status"] = "open",
                ["customer"] = r.Form.GetValueOrDefault("customer"), ["url"] = $"https://checkout.stripe.com/c/pay/{id}",
                ["client_reference_id"] = r.Form.GetValueOrDefault("client_reference_id"), ["metadata"] = r.Metadata(),
                ["expires_at"] = DateTimeOffset.UtcNow.AddHours(24).ToUnixTimeSeconds(),
            };
            CheckoutSessions[id] = session;
            return StripeAnswer.Ok(session);
        });
        On("POST", "/v1/checkout/sessions/[^/]+/expire", r =>
        {
            if (!CheckoutSessions.TryGetValue(r.PathSegment(3), out var session)) return StripeAnswer.NotFound("checkout.session", r.PathSegment(3));
            lock (session)
            {
                if ((string?)session["status"] != "open")
                    return StripeAnswer.Error(400, "invalid_request_error", "Only Checkout Sessions with a status of `open` can be expired.", "checkout_session_not_open");
                session["status"] = "expired";
                session["url"] = null;
                return StripeAnswer.Ok(new Dictionary<string, object?>(session));
            }
        });
    }
}

/// <param name="Form">The form-encoded body, keys as Stripe.net writes them (<c>items[0][price]</c>, <c>metadata[organization_id]</c>).</param>
public sealed record StripeRequest(
    string Method,
    string Path,
    IReadOnlyDictionary<string, string> Query,
    IReadOnlyDictionary<string, string> Form,
    string? IdempotencyKey,
    string Authorization,
    string? StripeVersion,
    int Status = 0,
    bool Replayed = false)
{
    public string PathSegment(int index) => Path.Trim('/').Split('/')[index];

    public Dictionary<string, object?> Metadata() =>
        Form.Where(f => f.Key.StartsWith("metadata[", StringComparison.Ordinal))
            .ToDictionary(f => f.Key["metadata[".Length..^1], f => (object?)f.Value);

    internal static StripeRequest From(IRequestMessage message)
    {
        string? Header(string name) =>
            message.Headers?.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value is { Count: > 0 } v ? v[0] : null;
        var form = QueryHelpers.ParseQuery(message.Body ?? "").ToDictionary(f => f.Key, f => f.Value.ToString());
        var query = message.Query?.ToDictionary(q => q.Key, q => q.Value.ToString()) ?? [];
        return new StripeRequest(message.Method.ToUpperInvariant(), message.Path, query, form, Header("Idempotency-Key"),
            Header("Authorization") ?? "", Header("Stripe-Version"));
    }
}

public sealed record StripeAnswer(int Status, string Json)
{
    private static readonly System.Text.Json.JsonSerializerOptions Options = new() { WriteIndented = false };

    public static StripeAnswer Ok(object body) => new(200, System.Text.Json.JsonSerializer.Serialize(body, Options));

    public static StripeAnswer Error(int status, string type, string message, string? code = null) =>
        new(status, System.Text.Json.JsonSerializer.Serialize(new { error = new { type, message, code } }, Options));

    public static StripeAnswer NotFound(string what, string id) =>
        Error(404, "invalid_request_error", $"No such {what}: '{id}'", "resource_missing");
}

/// <summary>The application with Stripe's API on a local fake and Stripe's webhook route enabled.</summary>
public class StripeSetup : AppSetup
{
    public const string WebhookSecret = "whsec_billing_test_secret";

    public StripeTestServer Stripe { get; private set; } = null!;

    public override async ValueTask StartAsync() => Stripe = await StripeTestServer.StartAsync();

    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Stripe:ApiKey"] = StripeTestServer.ApiKey;
        settings["Stripe:ApiBase"] = Stripe.BaseUrl;
        settings["Stripe:WebhookSecret"] = WebhookSecret;
    }

    public override async ValueTask DisposeAsync()
    {
        await Stripe.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>A Stripe event delivery to <c>POST /webhooks/stripe</c>, signed as Stripe signs (<c>t=…,v1=HMAC-SHA256(secret, "t.body")</c>).</summary>
    public static HttpRequestMessage Event(string eventId, string type, object dataObject, DateTimeOffset created, DateTimeOffset now)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["id"] = eventId, ["object"] = "event", ["api_version"] = "2026-10-28.endive", ["type"] = type,
            ["created"] = created.ToUnixTimeSeconds(), ["livemode"] = false, ["pending_webhooks"] = 1,
            ["data"] = new Dictionary<string, object?> { ["object"] = dataObject },
        });
        var ts = now.ToUnixTimeSeconds();
        var signature = Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookSecret), Encoding.UTF8.GetBytes($"{ts}.{body}"))).ToLowerInvariant();
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Stripe-Signature", $"t={ts},v1={signature}");
        return request;
    }
}
