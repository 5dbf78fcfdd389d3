using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Backstop.Tests.Support;

/// <summary>The Paddle fake behaves as Paddle's API does (developer.paddle.com) for what Billing relies on.</summary>
public sealed class PaddleTestServerTests : IAsyncLifetime
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private PaddleTestServer paddle = null!;
    private HttpClient http = null!;

    public async ValueTask InitializeAsync()
    {
        paddle = await PaddleTestServer.StartAsync();
        paddle.Clock = time.GetUtcNow;
        http = new HttpClient { BaseAddress = new Uri(paddle.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await paddle.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> CancelAsync(string id, string? body = """{"effective_from":"immediately"}""",
        string? authorization = "Bearer " + PaddleTestServer.ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/subscriptions/{id}/cancel");
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        var response = await http.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone(), response);
    }

    private static void ShouldBeError(JsonElement body, string type, string code)
    {
        body.GetProperty("error").GetProperty("type").GetString().ShouldBe(type);
        body.GetProperty("error").GetProperty("code").GetString().ShouldBe(code);
        body.GetProperty("error").GetProperty("detail").GetString().ShouldNotBeNullOrEmpty();
        body.GetProperty("meta").GetProperty("request_id").GetString().ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Every_call_needs_the_Bearer_API_key_and_a_refused_one_changes_nothing()
    {
        paddle.PlantSubscription("sub_auth");
        var (status, body, _) = await CancelAsync("sub_auth", authorization: null);
        status.ShouldBe(HttpStatusCode.Forbidden);
        ShouldBeError(body, "request_error", "authentication_missing");
        (status, body, _) = await CancelAsync("sub_auth", authorization: "Basic " + PaddleTestServer.ApiKey);
        status.ShouldBe(HttpStatusCode.Forbidden);
        ShouldBeError(body, "request_error", "authentication_malformed");
        (status, body, _) = await CancelAsync("sub_auth", authorization: "Bearer pdl_sdbx_apikey_someone_elses");
        status.ShouldBe(HttpStatusCode.Forbidden);
        ShouldBeError(body, "request_error", "invalid_token");
        paddle.Subscriptions["sub_auth"].Status.ShouldBe("active");
        paddle.Cancellations.ShouldBe(0);
    }

    [Fact]
    public async Task Cancel_immediately_ends_the_subscription_and_cancelling_it_again_answers_Paddles_error()
    {
        paddle.PlantSubscription("sub_now");
        var (status, body, _) = await CancelAsync("sub_now");
        status.ShouldBe(HttpStatusCode.OK);
        body.GetProperty("data").GetProperty("id").GetString().ShouldBe("sub_now");
        body.GetProperty("data").GetProperty("status").GetString().ShouldBe("canceled");
        body.GetProperty("data").GetProperty("canceled_at").GetString().ShouldStartWith("2026-12-07T12:00:00");
        body.GetProperty("data").GetProperty("scheduled_change").ValueKind.ShouldBe(JsonValueKind.Null);

        (status, body, _) = await CancelAsync("sub_now");
        status.ShouldBe(HttpStatusCode.BadRequest);
        ShouldBeError(body, "request_error", "subscription_is_canceled_action_invalid");
        paddle.Cancellations.ShouldBe(1);
    }

    [Fact]
    public async Task Without_effective_from_the_cancel_is_only_scheduled_for_the_period_end()
    {
        paddle.PlantSubscription("sub_later");
        var (status, body, _) = await CancelAsync("sub_later", body: null);
        status.ShouldBe(HttpStatusCode.OK);
        body.GetProperty("data").GetProperty("status").GetString().ShouldBe("active");
        body.GetProperty("data").GetProperty("scheduled_change").GetProperty("action").GetString().ShouldBe("cancel");
        paddle.Subscriptions["sub_later"].Status.ShouldBe("active");
        (status, body, _) = await CancelAsync("sub_later", body: """{"effective_from":"tomorrow"}""");
        status.ShouldBe(HttpStatusCode.BadRequest);
        ShouldBeError(body, "request_error", "invalid_field");
    }

    [Fact]
    public async Task An_unknown_subscription_answers_404_not_found()
    {
        var (status, body, _) = await CancelAsync("sub_nobody");
        status.ShouldBe(HttpStatusCode.NotFound);
        ShouldBeError(body, "request_error", "not_found");
    }

    [Fact]
    public async Task Injected_500_and_429_answer_Paddles_errors_and_apply_nothing()
    {
        paddle.PlantSubscription("sub_faults");
        paddle.FailNext(500, "sub_faults");
        paddle.FailNext(429, "sub_faults");
        var (status, body, _) = await CancelAsync("sub_faults");
        status.ShouldBe(HttpStatusCode.InternalServerError);
        ShouldBeError(body, "api_error", "internal_error");
        paddle.Subscriptions["sub_faults"].Status.ShouldBe("active");
        var (tooMany, limited, response) = await CancelAsync("sub_faults");
        tooMany.ShouldBe(HttpStatusCode.TooManyRequests);
        ShouldBeError(limited, "request_error", "too_many_requests");
        response.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(7));
        paddle.Subscriptions["sub_faults"].Status.ShouldBe("active");
        (status, _, _) = await CancelAsync("sub_faults");
        status.ShouldBe(HttpStatusCode.OK);
        paddle.Cancellations.ShouldBe(1);
        paddle.CancelsOf("sub_faults").Select(r => r.Status).ShouldBe([500, 429, 200]);
    }
}
