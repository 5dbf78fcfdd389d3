using System.Net.Http.Headers;
using System.Net.Sockets;
using Backstop.Tests.Features.Billing;
using Microsoft.Extensions.Time.Testing;

namespace Backstop.Tests.Support;

/// <summary>The Stripe fake behaves as Stripe does (PROVIDERS.md) for what Billing relies on: a green Billing test means Stripe would agree.</summary>
public sealed class StripeTestServerTests : IAsyncLifetime
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private StripeTestServer stripe = null!;
    private HttpClient http = null!;

    public async ValueTask InitializeAsync()
    {
        stripe = await StripeTestServer.StartAsync();
        stripe.Clock = time.GetUtcNow;
        http = new HttpClient { BaseAddress = new Uri(stripe.BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", StripeTestServer.ApiKey);
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await stripe.DisposeAsync();
    }

    private Task<HttpResponseMessage> PostAsync(string path, Dictionary<string, string> form, string? key = null, HttpClient? client = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        return (client ?? http).SendAsync(request);
    }

    private async Task<JsonElement> GetAsync(string path) => JsonDocument.Parse(await http.GetStringAsync(path)).RootElement.Clone();

    private static async Task<(int Status, JsonElement Body)> ReadAsync(HttpResponseMessage response) =>
        ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());

    private Dictionary<string, object?> Plant(string? coupon = null, DateTimeOffset? trialEnd = null)
    {
        var now = time.GetUtcNow();
        var id = stripe.NewId("sub");
        return stripe.PlantSubscription(id, "cus_" + id, "price_pro", trialEnd is null ? "active" : "trialing", now.AddDays(-1), trialEnd ?? now.AddDays(29),
            couponId: coupon, trialEnd: trialEnd, metadata: new Dictionary<string, object?> { ["organization_id"] = "org_1" }, defaultPaymentMethod: "pm_card");
    }

    [Fact]
    public async Task The_first_result_of_a_key_is_replayed_for_24_hours_even_a_500()
    {
        var calls = 0;
        stripe.On("POST", "/v1/things", _ => Interlocked.Increment(ref calls) == 1
            ? StripeAnswer.Error(500, "api_error", "Something went wrong on Stripe's end.")
            : StripeAnswer.Ok(new { id = "thing_1" }));
        var form = new Dictionary<string, string> { ["name"] = "a" };

        (await PostAsync("/v1/things", form, "k1")).StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        var replay = await PostAsync("/v1/things", form, "k1");
        replay.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        replay.Headers.GetValues("Idempotent-Replayed").ShouldBe(["true"]);
        calls.ShouldBe(1);
        (await PostAsync("/v1/things", form, "k2")).StatusCode.ShouldBe(HttpStatusCode.OK);

        time.Advance(TimeSpan.FromHours(24) - TimeSpan.FromSeconds(1));
        (await PostAsync("/v1/things", form, "k1")).StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
        time.Advance(TimeSpan.FromSeconds(1));
        (await PostAsync("/v1/things", form, "k1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        stripe.Received("POST", "/v1/things").Select(r => r.Replayed).ShouldBe([false, true, false, true, false]);
    }

    [Fact]
    public async Task The_same_key_with_other_parameters_is_400_idempotency_error()
    {
        var sub = Plant();
        var path = $"/v1/subscriptions/{sub["id"]}";
        (await PostAsync(path, new() { ["cancel_at_period_end"] = "true" }, "k")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var (status, body) = await ReadAsync(await PostAsync(path, new() { ["cancel_at_period_end"] = "false" }, "k"));

        status.ShouldBe(400);
        body.GetProperty("error").GetProperty("type").GetString().ShouldBe("idempotency_error");
        (await GetAsync(path)).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task A_key_in_use_by_a_request_in_flight_is_409()
    {
        var entered = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        stripe.On("POST", "/v1/slow", _ =>
        {
            entered.TrySetResult();
            release.Task.Wait(TimeSpan.FromSeconds(30));
            return StripeAnswer.Ok(new { id = "slow_1" });
        });
        var form = new Dictionary<string, string> { ["a"] = "1" };

        var first = PostAsync("/v1/slow", form, "same");
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var (status, body) = await ReadAsync(await PostAsync("/v1/slow", form, "same"));
        release.SetResult();

        status.ShouldBe(409);
        body.GetProperty("error").GetProperty("type").GetString().ShouldBe("idempotency_error");
        (await first).StatusCode.ShouldBe(HttpStatusCode.OK);
        // Once the first finished, its answer is the key's.
        (await PostAsync("/v1/slow", form, "same")).Headers.GetValues("Idempotent-Replayed").ShouldBe(["true"]);
    }

    [Fact]
    public async Task A_subscription_managed_by_a_schedule_refuses_cancel_and_price_changes_until_the_schedule_is_released()
    {
        var sub = Plant();
        var path = $"/v1/subscriptions/{sub["id"]}";
        var schedule = (await ReadAsync(await PostAsync("/v1/subscription_schedules", new() { ["from_subscription"] = (string)sub["id"]! }))).Body.GetProperty("id").GetString()!;
        (await GetAsync(path)).GetProperty("schedule").GetString().ShouldBe(schedule);
        (await ReadAsync(await PostAsync("/v1/subscription_schedules", new() { ["from_subscription"] = (string)sub["id"]! }))).Status.ShouldBe(400);

        var (status, body) = await ReadAsync(await PostAsync(path, new() { ["cancel_at_period_end"] = "true" }));
        status.ShouldBe(400);
        body.GetProperty("error").GetProperty("message").GetString()!.ShouldContain(schedule);
        (await ReadAsync(await PostAsync(path, new() { ["items[0][id]"] = "si_" + sub["id"], ["items[0][price]"] = "price_max" }))).Status.ShouldBe(400);
        (await GetAsync(path)).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeFalse();

        (await PostAsync($"/v1/subscription_schedules/{schedule}/release", [])).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await ReadAsync(await PostAsync($"/v1/subscription_schedules/{schedule}/release", []))).Status.ShouldBe(400);
        (await PostAsync(path, new() { ["cancel_at_period_end"] = "true" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var current = await GetAsync(path);
        current.GetProperty("cancel_at_period_end").GetBoolean().ShouldBeTrue();
        current.GetProperty("schedule").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task A_schedule_update_keeps_only_the_phase_fields_it_is_sent_and_the_subscription_loses_the_others()
    {
        var trialEnd = time.GetUtcNow().AddDays(10).Second();
        var sub = Plant(coupon: "co_10", trialEnd: trialEnd);
        var id = (string)sub["id"]!;
        var schedule = (await ReadAsync(await PostAsync("/v1/subscription_schedules", new() { ["from_subscription"] = id }))).Body.GetProperty("id").GetString()!;
        var created = stripe.Phases(schedule).ShouldHaveSingleItem();
        ((List<object?>)created["discounts"]!).Cast<Dictionary<string, object?>>().Single()["coupon"].ShouldBe("co_10");
        created["trial_end"].ShouldBe(trialEnd.ToUnixTimeSeconds());
        ((Dictionary<string, object?>)created["metadata"]!)["organization_id"].ShouldBe("org_1");
        created["default_payment_method"].ShouldBe("pm_card");
        var phaseStart = ((long)created["start_date"]!).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var phaseEnd = ((long)created["end_date"]!).ToString(System.Globalization.CultureInfo.InvariantCulture);

        (await PostAsync($"/v1/subscription_schedules/{schedule}", new()
        {
            ["phases[0][items][0][price]"] = "price_pro", ["phases[0][start_date]"] = phaseStart, ["phases[0][end_date]"] = phaseEnd,
            ["phases[1][items][0][price]"] = "price_basic", ["phases[1][duration][interval]"] = "month", ["phases[1][discounts][0][coupon]"] = "co_new",
            ["end_behavior"] = "release",
        })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var phases = stripe.Phases(schedule);
        phases.Count.ShouldBe(2);
        phases[0].Keys.ShouldBe(["items", "start_date", "end_date"], ignoreOrder: true);
        phases[1]["start_date"].ShouldBe((long)created["end_date"]!);
        phases[1]["end_date"].ShouldBe(DateTimeOffset.FromUnixTimeSeconds((long)created["end_date"]!).AddMonths(1).ToUnixTimeSeconds());
        ((List<object?>)phases[1]["discounts"]!).Cast<Dictionary<string, object?>>().Single()["coupon"].ShouldBe("co_new");
        // The current phase applies at once: the discount, the trial, the metadata and the payment method are gone.
        var now = await GetAsync($"/v1/subscriptions/{id}");
        now.GetProperty("discounts").GetArrayLength().ShouldBe(0);
        now.GetProperty("status").GetString().ShouldBe("active");
        now.GetProperty("metadata").EnumerateObject().ShouldBeEmpty();
        now.GetProperty("default_payment_method").ValueKind.ShouldBe(JsonValueKind.Null);
        var current = (await GetAsync($"/v1/subscription_schedules/{schedule}")).GetProperty("current_phase");
        current.GetProperty("end_date").GetInt64().ShouldBe((long)created["end_date"]!);
        (await ReadAsync(await PostAsync($"/v1/subscription_schedules/{schedule}", new()
        {
            ["phases[0][items][0][price]"] = "price_pro", ["phases[0][start_date]"] = "1", ["phases[0][end_date]"] = phaseEnd,
        }))).Status.ShouldBe(400);
    }

    [Fact]
    public async Task The_subscription_read_is_the_current_state_that_calls_and_schedule_phases_change()
    {
        var sub = Plant();
        var id = (string)sub["id"]!;
        (await GetAsync($"/v1/subscriptions/{id}")).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeFalse();
        await PostAsync($"/v1/subscriptions/{id}", new() { ["cancel_at_period_end"] = "true" });
        (await GetAsync($"/v1/subscriptions/{id}")).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeTrue();
        await PostAsync($"/v1/subscriptions/{id}", new() { ["cancel_at_period_end"] = "false" });

        var schedule = (await ReadAsync(await PostAsync("/v1/subscription_schedules", new() { ["from_subscription"] = id }))).Body.GetProperty("id").GetString()!;
        var phase = stripe.Phases(schedule).Single();
        await PostAsync($"/v1/subscription_schedules/{schedule}", new()
        {
            ["phases[0][items][0][price]"] = "price_pro", ["phases[0][start_date]"] = phase["start_date"]!.ToString()!, ["phases[0][end_date]"] = phase["end_date"]!.ToString()!,
            ["phases[1][items][0][price]"] = "price_basic", ["phases[1][duration][interval]"] = "month",
        });
        time.Advance(DateTimeOffset.FromUnixTimeSeconds((long)phase["end_date"]!) - time.GetUtcNow());
        var event_ = stripe.AdvanceSchedule(schedule);

        var read = await GetAsync($"/v1/subscriptions/{id}");
        read.GetProperty("items").GetProperty("data")[0].GetProperty("price").GetProperty("id").GetString().ShouldBe("price_basic");
        read.GetProperty("items").GetProperty("data")[0].GetProperty("current_period_start").GetInt64().ShouldBe((long)phase["end_date"]!);
        read.GetProperty("schedule").GetString().ShouldBe(schedule);
        JsonSerializer.Serialize(event_).ShouldBe(JsonSerializer.Serialize(stripe.Snapshot(id)));
        (await ReadAsync(await http.GetAsync("/v1/subscriptions/sub_missing"))).Status.ShouldBe(404);
    }

    [Fact]
    public async Task An_always_invoice_upgrade_charges_an_invoice_and_a_declined_card_leaves_the_price_by_payment_behavior()
    {
        var paid = Plant();
        var upgrade = (Dictionary<string, object?> s, string behavior) => new Dictionary<string, string>
        {
            ["items[0][id]"] = "si_" + s["id"], ["items[0][price]"] = "price_max", ["proration_behavior"] = "always_invoice",
            ["proration_date"] = "1795000000", ["payment_behavior"] = behavior, ["expand[0]"] = "latest_invoice",
        };
        var (status, body) = await ReadAsync(await PostAsync($"/v1/subscriptions/{paid["id"]}", upgrade(paid, "pending_if_incomplete")));
        status.ShouldBe(200);
        body.GetProperty("latest_invoice").GetProperty("status").GetString().ShouldBe("paid");
        body.GetProperty("latest_invoice").GetProperty("proration_date").GetInt64().ShouldBe(1795000000);
        body.GetProperty("items").GetProperty("data")[0].GetProperty("price").GetProperty("id").GetString().ShouldBe("price_max");

        var declined = Plant();
        stripe.Declining[(string)declined["customer"]!] = true;
        (status, body) = await ReadAsync(await PostAsync($"/v1/subscriptions/{declined["id"]}", upgrade(declined, "pending_if_incomplete")));
        status.ShouldBe(200);
        body.GetProperty("pending_update").ValueKind.ShouldBe(JsonValueKind.Object);
        body.GetProperty("latest_invoice").GetProperty("status").GetString().ShouldBe("open");
        body.GetProperty("latest_invoice").GetProperty("hosted_invoice_url").GetString()!.ShouldStartWith("https://invoice.stripe.com/");
        (await GetAsync($"/v1/subscriptions/{declined["id"]}")).GetProperty("items").GetProperty("data")[0].GetProperty("price").GetProperty("id").GetString().ShouldBe("price_pro");
        var withCoupon = upgrade(declined, "pending_if_incomplete");
        withCoupon["discounts[0][coupon]"] = "co_1";
        (await ReadAsync(await PostAsync($"/v1/subscriptions/{declined["id"]}", withCoupon))).Status.ShouldBe(400);
        (status, body) = await ReadAsync(await PostAsync($"/v1/subscriptions/{declined["id"]}", upgrade(declined, "error_if_incomplete")));
        status.ShouldBe(402);
        body.GetProperty("error").GetProperty("type").GetString().ShouldBe("card_error");
    }

    [Fact]
    public async Task Transport_failures_can_be_injected_refused_reset_mid_answer_and_timeout()
    {
        var sub = Plant();
        var path = $"/v1/subscriptions/{sub["id"]}";

        stripe.Down();
        var refused = await Should.ThrowAsync<HttpRequestException>(() => http.GetAsync(path));
        refused.InnerException.ShouldBeOfType<SocketException>().SocketErrorCode.ShouldBe(SocketError.ConnectionRefused);
        stripe.Up();
        (await http.GetAsync(path)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Stripe applied the call; the answer was lost half-way.
        stripe.FailNext(StripeFault.ResetMidAnswer, "POST", path);
        await Should.ThrowAsync<HttpRequestException>(() => PostAsync(path, new() { ["cancel_at_period_end"] = "true" }));
        (await GetAsync(path)).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeTrue();

        using var impatient = new HttpClient { BaseAddress = new Uri(stripe.BaseUrl), Timeout = TimeSpan.FromMilliseconds(300) };
        impatient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", StripeTestServer.ApiKey);
        stripe.FailNext(StripeFault.Timeout, "POST", path);
        await Should.ThrowAsync<TaskCanceledException>(() => PostAsync(path, new() { ["cancel_at_period_end"] = "false" }, client: impatient));
        (await GetAsync(path)).GetProperty("cancel_at_period_end").GetBoolean().ShouldBeFalse();
    }
}
