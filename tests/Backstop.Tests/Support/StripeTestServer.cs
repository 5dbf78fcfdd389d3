using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using WireMock.Settings;
using WireMock.Types;
using WireMock.Util;

namespace Backstop.Tests.Support;

/// <summary>A transport failure the fake can inject into the next matching request (see <see cref="StripeTestServer.FailNext"/>).</summary>
public enum StripeFault
{
    /// <summary>Stripe applies the request, starts the answer, and the connection is reset half-way through it.</summary>
    ResetMidAnswer,

    /// <summary>Stripe applies the request and never answers: the caller's timeout decides.</summary>
    Timeout,
}

/// <summary>
/// Stripe's REST API on a local WireMock.Net server, for the calls Billing makes through Stripe.net
/// (<c>Stripe:BaseUrl</c> points here), behaving as Stripe does for everything the code relies on
/// (PROVIDERS.md, Stripe sections; each rule has a test in <c>StripeTestServerTests</c>):
/// <list type="bullet">
/// <item>form-encoded bodies with bracketed keys, Bearer authentication (401 <c>{"error":{…}}</c> otherwise);</item>
/// <item><c>Idempotency-Key</c> (POST/DELETE): the first result stored under a key — 500s included — is replayed
/// (<see cref="StripeRequest.Replayed"/>, header <c>Idempotent-Replayed</c>) for 24 hours of <see cref="Clock"/>; the same key
/// with other parameters answers 400 <c>idempotency_error</c>; a second use while the first is in flight answers 409;</item>
/// <item>a subscription managed by a schedule refuses a direct <c>cancel_at_period_end</c> or item change (400 naming the
/// schedule); releasing the schedule frees it;</item>
/// <item>schedules are stored with their phases (<see cref="Schedules"/>); an update replaces the phases with exactly what it
/// sends (fields not sent — discounts, <c>trial_end</c>, metadata, <c>default_payment_method</c>, tax — are gone), and the
/// current phase's settings apply to the subscription at once, as at Stripe;</item>
/// <item><c>GET /v1/subscriptions/{id}</c> answers the current state of <see cref="Subscriptions"/>, which calls change and
/// tests change (<see cref="Snapshot"/> gives it for an event);</item>
/// <item>upgrades with <c>proration_behavior=always_invoice</c> create and charge an invoice (<see cref="Invoices"/>); a
/// customer in <see cref="Declining"/> has it declined, answered by <c>payment_behavior</c> as Stripe does;</item>
/// <item>transport failures on demand: <see cref="Down"/>/<see cref="Up"/> (connection refused), <see cref="FailNext"/>
/// (reset mid-answer, timeout).</item>
/// </list>
/// Every request is recorded in <see cref="Requests"/>. Tests can override a route with <see cref="On"/> (later wins).
/// </summary>
public sealed class StripeTestServer : IAsyncDisposable
{
    public const string ApiKey = "sk_test_backstop_fake";

    /// <summary>What an <c>always_invoice</c> proration invoice charges (minor units, eur).</summary>
    public const long ProrationInvoiceAmount = 1234;

    private static readonly TimeSpan KeyLifetime = TimeSpan.FromHours(24);

    private readonly List<Route> routes = [];
    private readonly Dictionary<string, KeyEntry> byIdempotencyKey = new(StringComparer.Ordinal);
    private readonly List<(StripeFault Fault, string? Method, Regex? Path)> faults = [];
    private readonly CancellationTokenSource stopping = new();
    private int sequence;
    private int port;

    private StripeTestServer() { }

    public WireMockServer Server { get; private set; } = null!;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Stripe's clock (idempotency keys expire after 24 hours of it). <see cref="StripeSetup"/> sets it to the app's fake clock.</summary>
    public Func<DateTimeOffset> Clock { get; set; } = () => DateTimeOffset.UtcNow;

    public ConcurrentQueue<StripeRequest> Requests { get; } = new();

    /// <summary>Stripe's side of subscriptions, by id: a JSON object per subscription that the default routes read and update.</summary>
    public ConcurrentDictionary<string, Dictionary<string, object?>> Subscriptions { get; } = new();

    /// <summary>Subscription schedules, by id, with their <c>phases</c> as last set.</summary>
    public ConcurrentDictionary<string, Dictionary<string, object?>> Schedules { get; } = new();

    /// <summary>Invoices the fake created (<c>always_invoice</c> prorations), by id.</summary>
    public ConcurrentDictionary<string, Dictionary<string, object?>> Invoices { get; } = new();

    /// <summary>Customers whose card is declined.</summary>
    public ConcurrentDictionary<string, bool> Declining { get; } = new();

    public static Task<StripeTestServer> StartAsync()
    {
        var server = new StripeTestServer();
        server.Listen();
        server.MapDefaults();
        server.MapCheckoutLifecycle();
        return Task.FromResult(server);
    }

    private void Listen()
    {
        Server = WireMockServer.Start(new WireMockServerSettings
        {
            Urls = [$"http://127.0.0.1:{port}"],
            PreWireMockMiddlewareInit = app => ((IApplicationBuilder)app).Use(InjectFaultsAsync),
        });
        Server.Given(Request.Create().WithPath(new WireMock.Matchers.RegexMatcher(".*"))).RespondWith(Response.Create().WithCallback(Answer));
        BaseUrl = Server.Url!;
        port = Server.Ports[0];
    }

    /// <summary>
    /// Stripe unreachable: the port refuses connections until <see cref="Up"/>. Meanwhile the port stays reserved by a
    /// socket bound to it that does not listen (the kernel refuses connections to it), so no socket of this busy test
    /// process (a connection's local port, another fake's listener) can take it and make <see cref="Up"/> fail.
    /// </summary>
    public void Down()
    {
        Server.Stop();
        Server.Dispose();
        for (var i = 0; ; i++)
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                // Over the stopped server's connections still in TIME_WAIT.
                socket.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
                socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
                reservation = socket;
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                socket.Dispose();
                if (i == 20) return; // left unreserved, as before: Up binds it again if it is still free
                Thread.Sleep(100); // the stopped listener's socket not yet closed (the fake's own pace, not the test's clock)
            }
        }
    }

    /// <summary>Stripe reachable again, on the same address.</summary>
    public void Up()
    {
        reservation?.Dispose();
        reservation = null;
        Listen();
    }

    private System.Net.Sockets.Socket? reservation;

    /// <summary>The next request matching <paramref name="method"/> and <paramref name="pathPattern"/> (regex, anchored; null: any) meets <paramref name="fault"/>.</summary>
    public void FailNext(StripeFault fault, string? method = null, string? pathPattern = null)
    {
        lock (faults) faults.Add((fault, method, pathPattern is null ? null : new Regex("^" + pathPattern + "$")));
    }

    private async Task InjectFaultsAsync(HttpContext context, Func<Task> next)
    {
        StripeFault? fault = null;
        lock (faults)
        {
            var index = faults.FindIndex(f => (f.Method is null || f.Method == context.Request.Method) && (f.Path is null || f.Path.IsMatch(context.Request.Path.Value ?? "")));
            if (index >= 0)
            {
                fault = faults[index].Fault;
                faults.RemoveAt(index);
            }
        }
        if (fault is null)
        {
            await next();
            return;
        }

        // Stripe received and applied the request; only its answer is lost.
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        await next();
        context.Response.Body = original;
        if (fault == StripeFault.Timeout)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping.Token).Token);
            }
            catch (OperationCanceledException)
            {
                // The caller gave up (or the fake stops).
            }
            context.Abort();
            return;
        }
        var bytes = buffer.ToArray();
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
        await context.Response.Body.FlushAsync();
        context.Abort();
    }

    /// <summary>A new Stripe-like id with <paramref name="prefix"/> (<c>cus</c>, <c>cs</c>, <c>sub</c>, …).</summary>
    public string NewId(string prefix) => $"{prefix}_test{Interlocked.Increment(ref sequence):D6}";

    /// <summary>What <paramref name="method"/> on a path matching <paramref name="pathPattern"/> (a regex, anchored) answers.</summary>
    public void On(string method, string pathPattern, Func<StripeRequest, StripeAnswer> answer)
    {
        lock (routes) routes.Insert(0, new Route(method, new Regex("^" + pathPattern + "$"), answer));
    }

    /// <summary>
    /// Runs <paramref name="before"/> (a test holds a request there) before the route now answering <paramref name="method"/>
    /// <paramref name="pathPattern"/> (the same pattern it was registered with) answers as it does.
    /// </summary>
    public void Before(string method, string pathPattern, Action<StripeRequest> before)
    {
        Route current;
        lock (routes) current = routes.First(r => r.Method == method && r.Path.ToString() == "^" + pathPattern + "$");
        On(method, pathPattern, r =>
        {
            before(r);
            return current.Answer(r);
        });
    }

    /// <summary>The requests that reached <paramref name="method"/> <paramref name="pathPattern"/> (regex, anchored), replays included.</summary>
    public IReadOnlyList<StripeRequest> Received(string method, string pathPattern)
    {
        var regex = new Regex("^" + pathPattern + "$");
        return Requests.Where(r => r.Method == method && regex.IsMatch(r.Path)).ToList();
    }

    /// <summary>A deep copy of the subscription's current state, as Stripe puts it in an event's <c>data.object</c>.</summary>
    public Dictionary<string, object?> Snapshot(string subscriptionId)
    {
        var s = Subscriptions[subscriptionId];
        lock (s) return Copy(s);
    }

    /// <summary>The phases of a schedule as stored (each a JSON object of exactly the fields last set).</summary>
    public IReadOnlyList<Dictionary<string, object?>> Phases(string scheduleId)
    {
        var schedule = Schedules[scheduleId];
        lock (schedule) return ((List<object?>)schedule["phases"]!).Cast<Dictionary<string, object?>>().Select(Copy).ToList();
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
        On("GET", "/v1/subscriptions/[^/]+", r =>
        {
            if (!Subscriptions.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription", r.PathSegment(2));
            lock (s) return StripeAnswer.Ok(Expanded(s, r));
        });
        On("POST", "/v1/subscriptions/[^/]+", UpdateSubscription);
        On("DELETE", "/v1/subscriptions/[^/]+", r =>
        {
            if (!Subscriptions.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription", r.PathSegment(2));
            lock (s)
            {
                s["status"] = "canceled";
                s["canceled_at"] = Clock().ToUnixTimeSeconds();
                // Cancelling a subscription cancels its schedule too.
                if (s.GetValueOrDefault("schedule") is string scheduleId && Schedules.TryGetValue(scheduleId, out var schedule))
                    lock (schedule) schedule["status"] = "canceled";
                s["schedule"] = null;
                return StripeAnswer.Ok(Copy(s));
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
        On("POST", "/v1/subscription_schedules", CreateSchedule);
        On("GET", "/v1/subscription_schedules/[^/]+", r =>
        {
            if (!Schedules.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription_schedule", r.PathSegment(2));
            lock (s) return StripeAnswer.Ok(WithCurrentPhase(s));
        });
        On("POST", "/v1/subscription_schedules/[^/]+", UpdateSchedule);
        On("POST", "/v1/subscription_schedules/[^/]+/release", ReleaseSchedule);
        On("GET", "/v1/invoices/[^/]+", r =>
            Invoices.TryGetValue(r.PathSegment(2), out var i) ? StripeAnswer.Ok(i) : StripeAnswer.NotFound("invoice", r.PathSegment(2)));
    }

    /// <summary>Plants Stripe's side of a subscription with one item of <paramref name="priceId"/> and its period on the item (API 2025-03-31 and later).</summary>
    public Dictionary<string, object?> PlantSubscription(string id, string customerId, string priceId, string status, DateTimeOffset periodStart, DateTimeOffset periodEnd,
        bool cancelAtPeriodEnd = false, string? couponId = null, DateTimeOffset? trialEnd = null, Dictionary<string, object?>? metadata = null,
        string? defaultPaymentMethod = null)
    {
        var subscription = new Dictionary<string, object?>
        {
            ["id"] = id, ["object"] = "subscription", ["customer"] = customerId, ["status"] = status,
            ["cancel_at_period_end"] = cancelAtPeriodEnd, ["created"] = periodStart.ToUnixTimeSeconds(), ["schedule"] = null,
            ["discounts"] = couponId is null ? new List<object?>() : new List<object?> { Discount(couponId) },
            ["trial_end"] = trialEnd?.ToUnixTimeSeconds(), ["metadata"] = metadata ?? new Dictionary<string, object?>(),
            ["default_payment_method"] = defaultPaymentMethod, ["default_tax_rates"] = new List<object?>(),
            ["automatic_tax"] = new Dictionary<string, object?> { ["enabled"] = false }, ["latest_invoice"] = null, ["pending_update"] = null,
            ["items"] = new Dictionary<string, object?>
            {
                ["object"] = "list",
                ["data"] = new List<object?>
                {
                    new Dictionary<string, object?>
                    {
                        ["id"] = "si_" + id, ["object"] = "subscription_item", ["quantity"] = 1L,
                        ["price"] = Price(priceId),
                        ["current_period_start"] = periodStart.ToUnixTimeSeconds(), ["current_period_end"] = periodEnd.ToUnixTimeSeconds(),
                    },
                },
            },
        };
        Subscriptions[id] = subscription;
        return subscription;
    }

    private static Dictionary<string, object?> Price(string priceId) => new()
    {
        ["id"] = priceId, ["object"] = "price", ["recurring"] = new Dictionary<string, object?> { ["interval"] = "month", ["interval_count"] = 1L },
    };

    private Dictionary<string, object?> Discount(string couponId) => new()
    {
        ["id"] = NewId("di"), ["object"] = "discount",
        ["source"] = new Dictionary<string, object?> { ["type"] = "coupon", ["coupon"] = couponId },
    };

    internal static Dictionary<string, object?> Item(Dictionary<string, object?> subscription) =>
        (Dictionary<string, object?>)((List<object?>)((Dictionary<string, object?>)subscription["items"]!)["data"]!)[0]!;

    private static string? CouponOf(object? discount) =>
        discount is Dictionary<string, object?> d ? (d.GetValueOrDefault("source") as Dictionary<string, object?>)?.GetValueOrDefault("coupon") as string ?? d.GetValueOrDefault("coupon") as string : null;

    // Parameters a pending update (payment_behavior=pending_if_incomplete) accepts; Stripe refuses any other.
    private static readonly string[] PendingUpdateParameters = ["items", "proration_behavior", "proration_date", "payment_behavior", "expand", "trial_end", "billing_cycle_anchor", "add_invoice_items", "trial_from_plan"];

    /// <summary><c>POST /v1/subscriptions/{id}</c>.</summary>
    public StripeAnswer UpdateSubscription(StripeRequest r)
    {
        if (!Subscriptions.TryGetValue(r.PathSegment(2), out var s)) return StripeAnswer.NotFound("subscription", r.PathSegment(2));
        lock (s)
        {
            var form = r.Form;
            var changesItems = form.Keys.Any(k => k.StartsWith("items[", StringComparison.Ordinal));
            if (s.GetValueOrDefault("schedule") is string managedBy)
            {
                if (form.ContainsKey("cancel_at_period_end") || form.ContainsKey("cancel_at"))
                    return StripeAnswer.Error(400, "invalid_request_error",
                        $"The subscription is managed by the subscription schedule `{managedBy}`, and updating any cancelation behavior directly is not allowed. Please update the schedule instead.");
                if (changesItems)
                    return StripeAnswer.Error(400, "invalid_request_error",
                        $"The subscription is managed by the subscription schedule `{managedBy}`, and updating any items directly is not allowed. Please update the schedule instead.");
            }
            if ((string?)s["status"] is "canceled" or "incomplete_expired")
                return StripeAnswer.Error(400, "invalid_request_error", "A canceled subscription can only update its cancellation_details and metadata.");
            var paymentBehavior = form.GetValueOrDefault("payment_behavior") ?? "allow_incomplete";
            if (paymentBehavior == "pending_if_incomplete"
                && form.Keys.FirstOrDefault(k => !PendingUpdateParameters.Any(p => k == p || k.StartsWith(p + "[", StringComparison.Ordinal))) is { } unsupported)
                return StripeAnswer.Error(400, "invalid_request_error",
                    $"When `payment_behavior` is `pending_if_incomplete`, only a subset of parameters can be updated; `{unsupported.Split('[')[0]}` is not one of them.");

            var item = Item(s);
            var price = form.GetValueOrDefault("items[0][price]");
            if (changesItems && form.GetValueOrDefault("items[0][id]") is { } itemId && itemId != (string?)item["id"])
                return StripeAnswer.Error(400, "invalid_request_error", $"Invalid subscription item: {itemId}", "resource_missing");

            if (price is not null && price != (string?)((Dictionary<string, object?>)item["price"]!)["id"])
            {
                var behavior = form.GetValueOrDefault("proration_behavior") ?? "create_prorations";
                if (behavior == "always_invoice")
                {
                    var declined = Declining.ContainsKey((string)s["customer"]!);
                    var invoice = CreateInvoice(s, form.GetValueOrDefault("proration_date"), paid: !declined);
                    s["latest_invoice"] = invoice["id"];
                    if (declined)
                    {
                        switch (paymentBehavior)
                        {
                            case "error_if_incomplete":
                                invoice["status"] = "void";
                                return StripeAnswer.Error(402, "card_error", "Your card was declined.", "card_declined");
                            case "pending_if_incomplete":
                                s["pending_update"] = new Dictionary<string, object?>
                                {
                                    ["expires_at"] = Clock().AddHours(23).ToUnixTimeSeconds(),
                                    ["subscription_items"] = new List<object?> { new Dictionary<string, object?> { ["id"] = item["id"], ["price"] = Price(price) } },
                                };
                                return StripeAnswer.Ok(Expanded(s, r));
                            default:
                                s["status"] = "past_due";
                                break;
                        }
                    }
                }
                item["price"] = Price(price);
            }
            if (form.TryGetValue("cancel_at_period_end", out var cancel)) s["cancel_at_period_end"] = cancel == "true";
            var discounts = StripeForm.Tree(form, "discounts");
            if (discounts is List<object?> list)
                s["discounts"] = list.Select(d => (object?)Discount((string)((Dictionary<string, object?>)d!)["coupon"]!)).ToList();
            if (StripeForm.Tree(form, "metadata") is Dictionary<string, object?> metadata)
                foreach (var (k, v) in metadata) ((Dictionary<string, object?>)s["metadata"]!)[k] = v;
            return StripeAnswer.Ok(Expanded(s, r));
        }
    }

    private Dictionary<string, object?> CreateInvoice(Dictionary<string, object?> subscription, string? prorationDate, bool paid)
    {
        var id = NewId("in");
        var invoice = new Dictionary<string, object?>
        {
            ["id"] = id, ["object"] = "invoice", ["customer"] = subscription["customer"], ["currency"] = "eur",
            ["status"] = paid ? "paid" : "open", ["billing_reason"] = "subscription_update", ["amount_due"] = ProrationInvoiceAmount,
            ["amount_paid"] = paid ? ProrationInvoiceAmount : 0L, ["attempt_count"] = 1L,
            ["hosted_invoice_url"] = $"https://invoice.stripe.com/i/acct_test/{id}",
            ["proration_date"] = prorationDate is null ? Clock().ToUnixTimeSeconds() : long.Parse(prorationDate, CultureInfo.InvariantCulture),
            ["parent"] = new Dictionary<string, object?>
            {
                ["type"] = "subscription_details",
                ["subscription_details"] = new Dictionary<string, object?> { ["subscription"] = subscription["id"] },
            },
        };
        Invoices[id] = invoice;
        return invoice;
    }

    /// <summary>The subscription as answered: <c>latest_invoice</c> expanded when the request asked for it.</summary>
    private Dictionary<string, object?> Expanded(Dictionary<string, object?> s, StripeRequest r)
    {
        var copy = Copy(s);
        var expand = r.Form.Where(f => f.Key.StartsWith("expand[", StringComparison.Ordinal)).Select(f => f.Value)
            .Concat(r.Query.Where(q => q.Key.StartsWith("expand", StringComparison.Ordinal)).Select(q => q.Value));
        if (expand.Contains("latest_invoice") && copy.GetValueOrDefault("latest_invoice") is string invoiceId && Invoices.TryGetValue(invoiceId, out var invoice))
            copy["latest_invoice"] = Copy(invoice);
        return copy;
    }

    /// <summary><c>POST /v1/subscription_schedules</c> with <c>from_subscription</c>: one phase holding the subscription's current settings.</summary>
    public StripeAnswer CreateSchedule(StripeRequest r)
    {
        var subscriptionId = r.Form.GetValueOrDefault("from_subscription");
        if (subscriptionId is null) return StripeAnswer.Error(400, "invalid_request_error", "Missing required param: from_subscription.", "parameter_missing");
        if (r.Form.Keys.Any(k => k.StartsWith("phases", StringComparison.Ordinal)))
            return StripeAnswer.Error(400, "invalid_request_error", "You cannot set `phases` if `from_subscription` is set.");
        if (!Subscriptions.TryGetValue(subscriptionId, out var s)) return StripeAnswer.NotFound("subscription", subscriptionId);
        lock (s)
        {
            if (s.GetValueOrDefault("schedule") is string existing)
                return StripeAnswer.Error(400, "invalid_request_error", $"You cannot migrate a subscription that is already attached to a schedule: `{existing}`.");
            if ((string?)s["status"] == "canceled") return StripeAnswer.Error(400, "invalid_request_error", "You cannot migrate a canceled subscription.");
            var item = Item(s);
            var phase = new Dictionary<string, object?>
            {
                ["start_date"] = item["current_period_start"], ["end_date"] = item["current_period_end"],
                ["items"] = new List<object?>
                {
                    new Dictionary<string, object?> { ["price"] = ((Dictionary<string, object?>)item["price"]!)["id"], ["quantity"] = item.GetValueOrDefault("quantity") ?? 1L },
                },
                ["discounts"] = ((List<object?>)s["discounts"]!).Select(d => (object?)new Dictionary<string, object?>
                {
                    ["coupon"] = CouponOf(d), ["discount"] = ((Dictionary<string, object?>)d!)["id"], ["promotion_code"] = null,
                }).ToList(),
                ["trial_end"] = (string?)s["status"] == "trialing" ? s["trial_end"] : null,
                ["metadata"] = Copy((Dictionary<string, object?>)s["metadata"]!),
                ["default_payment_method"] = s["default_payment_method"],
                ["default_tax_rates"] = Copy(new Dictionary<string, object?> { ["x"] = s["default_tax_rates"] })["x"],
                ["automatic_tax"] = Copy((Dictionary<string, object?>)s["automatic_tax"]!),
                ["proration_behavior"] = "create_prorations",
            };
            var id = NewId("sub_sched");
            var schedule = new Dictionary<string, object?>
            {
                ["id"] = id, ["object"] = "subscription_schedule", ["customer"] = s["customer"], ["subscription"] = subscriptionId,
                ["status"] = "active", ["end_behavior"] = "release", ["released_subscription"] = null,
                ["phases"] = new List<object?> { phase },
            };
            Schedules[id] = schedule;
            s["schedule"] = id;
            return StripeAnswer.Ok(WithCurrentPhase(schedule));
        }
    }

    // Fields of a phase an update keeps when sent; whatever is not sent is not kept.
    private static readonly string[] PhaseFields = ["items", "start_date", "end_date", "discounts", "trial_end", "metadata", "default_payment_method", "default_tax_rates", "automatic_tax", "proration_behavior", "collection_method", "description", "currency"];

    /// <summary>Attaches a schedule to the subscription as <c>POST /v1/subscription_schedules {from_subscription}</c> does; answers its id.</summary>
    public string AttachSchedule(string subscriptionId)
    {
        var answer = CreateSchedule(new StripeRequest("POST", "/v1/subscription_schedules", new Dictionary<string, string>(),
            new Dictionary<string, string> { ["from_subscription"] = subscriptionId }, null, "Bearer " + ApiKey, null));
        if (answer.Status != 200) throw new InvalidOperationException(answer.Json);
        return JsonDocument.Parse(answer.Json).RootElement.GetProperty("id").GetString()!;
    }

    /// <summary><c>POST /v1/subscription_schedules/{id}</c>: <c>phases</c> replaced by exactly what is sent; the current phase applies to the subscription.</summary>
    public StripeAnswer UpdateSchedule(StripeRequest r)
    {
        if (!Schedules.TryGetValue(r.PathSegment(2), out var schedule)) return StripeAnswer.NotFound("subscription_schedule", r.PathSegment(2));
        lock (schedule)
        {
            if ((string?)schedule["status"] is not ("active" or "not_started"))
                return StripeAnswer.Error(400, "invalid_request_error", $"You cannot update a subscription schedule that is currently in the `{schedule["status"]}` status.");
            if (r.Form.TryGetValue("end_behavior", out var end)) schedule["end_behavior"] = end;
            if (StripeForm.Tree(r.Form, "phases") is List<object?> sent)
            {
                var now = Clock().ToUnixTimeSeconds();
                var old = (List<object?>)schedule["phases"]!;
                var current = old.Cast<Dictionary<string, object?>>().FirstOrDefault(p => Unix(p["start_date"]) <= now && now < Unix(p["end_date"]));
                var phases = new List<object?>();
                long? previousEnd = null;
                foreach (var raw in sent.Cast<Dictionary<string, object?>>())
                {
                    // An empty string unsets a field (Stripe.net sends one for an empty list): as good as not sent.
                    var phase = raw.Where(f => PhaseFields.Contains(f.Key) && f.Value is not "").ToDictionary(f => f.Key, f => f.Value);
                    if (phase.GetValueOrDefault("discounts") is List<object?> phaseDiscounts && schedule.GetValueOrDefault("subscription") is string owner
                        && Subscriptions.TryGetValue(owner, out var ownerSubscription))
                        // A discount named by id is the subscription's: its coupon is what the phase carries.
                        foreach (var d in phaseDiscounts.Cast<Dictionary<string, object?>>().Where(d => d.GetValueOrDefault("coupon") is null && d.GetValueOrDefault("discount") is string))
                            lock (ownerSubscription)
                                d["coupon"] = CouponOf(((List<object?>)ownerSubscription["discounts"]!).Cast<Dictionary<string, object?>>().FirstOrDefault(x => (string?)x["id"] == (string)d["discount"]!));
                    if (phase.GetValueOrDefault("items") is not List<object?> { Count: > 0 } items)
                        return StripeAnswer.Error(400, "invalid_request_error", "Each phase needs at least one item.", "parameter_missing");
                    foreach (var i in items.Cast<Dictionary<string, object?>>())
                        i["quantity"] = i.GetValueOrDefault("quantity") is string q ? long.Parse(q, CultureInfo.InvariantCulture) : 1L;
                    long start = phase.GetValueOrDefault("start_date") is string sd ? long.Parse(sd, CultureInfo.InvariantCulture)
                        : previousEnd ?? (phases.Count == 0 && current is not null ? Unix(current["start_date"]) : now);
                    if (phases.Count == 0 && current is not null && start != Unix(current["start_date"]))
                        return StripeAnswer.Error(400, "invalid_request_error", "You can not modify the start date of the current phase.");
                    long endDate;
                    if (phase.GetValueOrDefault("end_date") is string ed) endDate = long.Parse(ed, CultureInfo.InvariantCulture);
                    else if (raw.GetValueOrDefault("duration") is Dictionary<string, object?> duration)
                    {
                        var count = duration.GetValueOrDefault("interval_count") is string c ? int.Parse(c, CultureInfo.InvariantCulture) : 1;
                        var from = DateTimeOffset.FromUnixTimeSeconds(start);
                        endDate = ((string?)duration.GetValueOrDefault("interval") switch
                        {
                            "year" => from.AddYears(count), "week" => from.AddDays(7 * count), "day" => from.AddDays(count), _ => from.AddMonths(count),
                        }).ToUnixTimeSeconds();
                    }
                    else if (raw.GetValueOrDefault("iterations") is string iterations)
                        endDate = DateTimeOffset.FromUnixTimeSeconds(start).AddMonths(int.Parse(iterations, CultureInfo.InvariantCulture)).ToUnixTimeSeconds();
                    else return StripeAnswer.Error(400, "invalid_request_error", "Each phase needs an end_date, a duration or iterations (the last phase too).");
                    phase["start_date"] = start;
                    phase["end_date"] = endDate;
                    if (phase.GetValueOrDefault("trial_end") is string te) phase["trial_end"] = te == "now" ? now : long.Parse(te, CultureInfo.InvariantCulture);
                    phases.Add(phase);
                    previousEnd = endDate;
                }
                schedule["phases"] = phases;
                if (schedule.GetValueOrDefault("subscription") is string subscriptionId && Subscriptions.TryGetValue(subscriptionId, out var s)
                    && phases.Cast<Dictionary<string, object?>>().FirstOrDefault(p => (long)p["start_date"]! <= now && now < (long)p["end_date"]!) is { } inForce)
                    lock (s) ApplyPhase(s, inForce, now);
            }
            return StripeAnswer.Ok(WithCurrentPhase(schedule));
        }
    }

    /// <summary>A phase in force sets the subscription's price, discounts, trial, metadata and payment method — a field the phase lacks is cleared.</summary>
    private void ApplyPhase(Dictionary<string, object?> s, Dictionary<string, object?> phase, long now)
    {
        var item = Item(s);
        var first = (Dictionary<string, object?>)((List<object?>)phase["items"]!)[0]!;
        item["price"] = Price((string)first["price"]!);
        item["quantity"] = first["quantity"];
        // A phase discount names a coupon, or an existing discount of the subscription by id.
        var existing = ((List<object?>)s["discounts"]!).Cast<Dictionary<string, object?>>().ToList();
        var couponIds = (phase.GetValueOrDefault("discounts") as List<object?> ?? [])
            .Select(d => (Dictionary<string, object?>)d!)
            .Select(d => d.GetValueOrDefault("coupon") as string
                         ?? CouponOf(existing.FirstOrDefault(x => d.GetValueOrDefault("discount") is string id && (string?)x["id"] == id)))
            .Where(c => c is not null).ToList();
        s["discounts"] = couponIds.Select(c => (object?)Discount(c!)).ToList();
        var trialEnd = phase.GetValueOrDefault("trial_end") is { } t ? Unix(t) : (long?)null;
        s["trial_end"] = trialEnd > now ? trialEnd : (string?)s["status"] == "trialing" ? now : s["trial_end"];
        if ((string?)s["status"] == "trialing" && !(trialEnd > now)) s["status"] = "active";
        s["metadata"] = phase.GetValueOrDefault("metadata") is Dictionary<string, object?> m ? Copy(m) : new Dictionary<string, object?>();
        s["default_payment_method"] = phase.GetValueOrDefault("default_payment_method");
    }

    /// <summary>
    /// Stripe's clock reaches the next phase of <paramref name="scheduleId"/>: the subscription takes that phase (price,
    /// discounts, trial, metadata) and its period; the schedule stays attached until its last phase ends. Answers the
    /// subscription as its <c>customer.subscription.updated</c> carries it.
    /// </summary>
    public Dictionary<string, object?> AdvanceSchedule(string scheduleId)
    {
        var schedule = Schedules[scheduleId];
        lock (schedule)
        {
            var s = Subscriptions[(string)schedule["subscription"]!];
            var now = Clock().ToUnixTimeSeconds();
            var phase = ((List<object?>)schedule["phases"]!).Cast<Dictionary<string, object?>>().First(p => Unix(p["start_date"]) <= now && now < Unix(p["end_date"]));
            lock (s)
            {
                ApplyPhase(s, phase, now);
                var item = Item(s);
                item["current_period_start"] = Unix(phase["start_date"]);
                item["current_period_end"] = Unix(phase["end_date"]);
                return Copy(s);
            }
        }
    }

    /// <summary><c>POST /v1/subscription_schedules/{id}/release</c>: the subscription stays as it is, free of the schedule.</summary>
    public StripeAnswer ReleaseSchedule(StripeRequest r)
    {
        if (!Schedules.TryGetValue(r.PathSegment(2), out var schedule)) return StripeAnswer.NotFound("subscription_schedule", r.PathSegment(2));
        lock (schedule)
        {
            if ((string?)schedule["status"] is not ("active" or "not_started"))
                return StripeAnswer.Error(400, "invalid_request_error", $"You cannot release a subscription schedule that is currently in the `{schedule["status"]}` status.");
            schedule["status"] = "released";
            schedule["released_subscription"] = schedule["subscription"];
            if (schedule["subscription"] is string subscriptionId && Subscriptions.TryGetValue(subscriptionId, out var sub)) lock (sub) sub["schedule"] = null;
            schedule["subscription"] = null;
            return StripeAnswer.Ok(WithCurrentPhase(schedule));
        }
    }

    private Dictionary<string, object?> WithCurrentPhase(Dictionary<string, object?> schedule)
    {
        var copy = Copy(schedule);
        var now = Clock().ToUnixTimeSeconds();
        var current = ((List<object?>)schedule["phases"]!).Cast<Dictionary<string, object?>>().FirstOrDefault(p => Unix(p["start_date"]) <= now && now < Unix(p["end_date"]));
        copy["current_phase"] = current is null || (string?)schedule["status"] != "active"
            ? null
            : new Dictionary<string, object?> { ["start_date"] = current["start_date"], ["end_date"] = current["end_date"] };
        return copy;
    }

    private static long Unix(object? value) => value switch
    {
        long l => l,
        int i => i,
        string s => long.Parse(s, CultureInfo.InvariantCulture),
        JsonElement e => e.GetInt64(),
        _ => throw new InvalidOperationException($"Not a time: {value}"),
    };

    private static Dictionary<string, object?> Copy(Dictionary<string, object?> value) =>
        JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(value), StripeForm.ReadOptions)!
            .ToDictionary(kv => kv.Key, kv => StripeForm.Plain(kv.Value));

    private ResponseMessage Answer(IRequestMessage message)
    {
        var request = StripeRequest.From(message);
        if (request.Authorization != "Bearer " + ApiKey)
        {
            Requests.Enqueue(request with { Status = 401 });
            return Write(StripeAnswer.Error(401, "invalid_request_error", "Invalid API Key provided."));
        }

        // Keys are per account, not per path; GET requests are idempotent by definition and ignore them.
        var key = request.Method is "POST" or "DELETE" ? request.IdempotencyKey : null;
        KeyEntry? entry = null;
        if (key is not null)
        {
            var fingerprint = request.Fingerprint();
            lock (byIdempotencyKey)
            {
                if (byIdempotencyKey.TryGetValue(key, out var earlier) && earlier.StoredAt + KeyLifetime > Clock())
                {
                    var refusal = earlier.Fingerprint != fingerprint
                        ? StripeAnswer.Error(400, "idempotency_error",
                            $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.")
                        : earlier.Answer is null
                            ? StripeAnswer.Error(409, "idempotency_error", "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " + key + ". Please try again later.")
                            : null;
                    if (refusal is not null)
                    {
                        Requests.Enqueue(request with { Status = refusal.Status });
                        return Write(refusal);
                    }
                    Requests.Enqueue(request with { Status = earlier.Answer!.Status, Replayed = true });
                    return Write(earlier.Answer, replayed: true);
                }
                entry = new KeyEntry(fingerprint, Clock());
                byIdempotencyKey[key] = entry;
            }
        }

        Route? route;
        lock (routes) route = routes.FirstOrDefault(r => r.Method == request.Method && r.Path.IsMatch(request.Path));
        StripeAnswer answer;
        try
        {
            answer = route is null
                ? StripeAnswer.Error(404, "invalid_request_error", $"Unrecognized request URL ({request.Method}: {request.Path}).")
                : route.Answer(request);
        }
        catch (Exception e)
        {
            answer = StripeAnswer.Error(500, "api_error", "Something went wrong on Stripe's end: " + e.Message);
        }
        // The first answer of a key is kept, whatever it was (500s included), for 24 hours.
        if (entry is not null) lock (byIdempotencyKey) entry.Answer = answer;
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
        stopping.Cancel();
        Server.Stop();
        Server.Dispose();
        reservation?.Dispose();
        stopping.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Route(string Method, Regex Path, Func<StripeRequest, StripeAnswer> Answer);

    private sealed class KeyEntry(string fingerprint, DateTimeOffset storedAt)
    {
        public string Fingerprint { get; } = fingerprint;
        public DateTimeOffset StoredAt { get; } = storedAt;

        /// <summary>Null while the first request is in flight.</summary>
        public StripeAnswer? Answer { get; set; }
    }

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

/// <summary>Stripe's bracketed form keys (<c>phases[1][items][0][price]</c>) as JSON-like trees.</summary>
public static class StripeForm
{
    internal static readonly JsonSerializerOptions ReadOptions = new();

    /// <summary>The tree under <paramref name="name"/>: a dictionary, a list (numeric keys), or the value; null when absent.</summary>
    public static object? Tree(IReadOnlyDictionary<string, string> form, string name)
    {
        object? root = null;
        foreach (var (key, value) in form.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (key == name) return value;
            if (!key.StartsWith(name + "[", StringComparison.Ordinal)) continue;
            var parts = key[(name.Length + 1)..^1].Split("][");
            root ??= new SortedDictionary<string, object?>(StringComparer.Ordinal);
            var node = (SortedDictionary<string, object?>)root;
            for (var i = 0; i < parts.Length; i++)
            {
                if (i == parts.Length - 1) node[parts[i]] = value;
                else
                {
                    if (node.GetValueOrDefault(parts[i]) is not SortedDictionary<string, object?> child) node[parts[i]] = child = new SortedDictionary<string, object?>(StringComparer.Ordinal);
                    node = child;
                }
            }
        }
        return root is null ? null : Shape(root);
    }

    private static object? Shape(object? node) => node switch
    {
        SortedDictionary<string, object?> d when d.Count > 0 && d.Keys.All(k => int.TryParse(k, out _)) =>
            d.OrderBy(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)).Select(kv => Shape(kv.Value)).ToList(),
        SortedDictionary<string, object?> d => d.ToDictionary(kv => kv.Key, kv => Shape(kv.Value)),
        _ => node,
    };

    /// <summary>A deserialised JSON value as plain dictionaries, lists, strings, longs, bools and nulls.</summary>
    internal static object? Plain(object? value) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.Object } o => o.EnumerateObject().ToDictionary(p => p.Name, p => Plain(p.Value)),
        JsonElement { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Select(v => Plain(v)).ToList(),
        JsonElement { ValueKind: JsonValueKind.String } s => s.GetString(),
        JsonElement { ValueKind: JsonValueKind.Number } n => n.TryGetInt64(out var l) ? (object)l : n.GetDouble(),
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        JsonElement => null,
        _ => value,
    };
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

    /// <summary>What Stripe compares when a key is used again: the method, the path and every parameter.</summary>
    public string Fingerprint() =>
        Method + " " + Path + "?" + string.Join("&", Form.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => f.Key + "=" + f.Value));

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
        settings["Stripe:BaseUrl"] = Stripe.BaseUrl;
        settings["Stripe:WebhookSecret"] = WebhookSecret;
    }

    /// <summary>Stripe's clock is the app's fake clock (idempotency keys expire after 24 hours of it).</summary>
    public override void ConfigureServices(IServiceCollection services)
    {
        if (services.LastOrDefault(d => d.ServiceType == typeof(TimeProvider))?.ImplementationInstance is TimeProvider time)
            Stripe.Clock = time.GetUtcNow;
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
