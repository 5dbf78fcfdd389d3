using Backstop.Infrastructure.Providers.Paddle;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.Billing;

public sealed class PaddleOptionsTests
{
    [Fact]
    public void The_defaults_are_valid_and_point_at_the_live_API() =>
        new PaddleOptions().ShouldSatisfyAllConditions(
            o => o.Validate().ShouldBeEmpty(),
            o => o.BaseAddress.ShouldBe(new Uri("https://api.paddle.com/")),
            o => o.ApiEnabled.ShouldBeFalse());

    [Theory]
    [InlineData("pdl_sdbx_apikey_01abc", "https://api.paddle.com", "sandbox key")]
    [InlineData("pdl_live_apikey_01abc", "https://sandbox-api.paddle.com/", "live key")]
    [InlineData("pdl_live_apikey 01abc", "https://api.paddle.com", "spaces")]
    [InlineData("pdl_live_apikey_01abc", "ftp://api.paddle.com", "Paddle:BaseUrl")]
    [InlineData(null, "not a url", "Paddle:BaseUrl")]
    public void A_key_and_address_that_cannot_work_are_refused_at_start(string? apiKey, string baseUrl, string named)
    {
        var problems = new PaddleOptions { ApiKey = apiKey, BaseUrl = baseUrl }.Validate().ToList();
        problems.ShouldHaveSingleItem().ShouldContain(named);
        if (apiKey is not null) problems[0].ShouldNotContain(apiKey);
    }

    [Theory]
    [InlineData("pdl_sdbx_apikey_01abc", "https://sandbox-api.paddle.com")]
    [InlineData("pdl_live_apikey_01abc", "https://api.paddle.com/")]
    [InlineData("an-older-key-format", "http://127.0.0.1:5999")]
    public void A_key_for_its_own_environment_is_accepted(string apiKey, string baseUrl) =>
        new PaddleOptions { ApiKey = apiKey, BaseUrl = baseUrl }.Validate().ShouldBeEmpty();
}

/// <summary>The client against the fake: what it makes of each of Paddle's answers, and the key kept out of logs and errors.</summary>
public sealed class PaddleClientTests : IAsyncLifetime
{
    private PaddleTestServer paddle = null!;
    private readonly ListLogger log = new();

    public async ValueTask InitializeAsync() => paddle = await PaddleTestServer.StartAsync();

    public async ValueTask DisposeAsync() => await paddle.DisposeAsync();

    private PaddleClient Client(string? apiKey = PaddleTestServer.ApiKey, string? baseUrl = null)
    {
        var options = new PaddleOptions { ApiKey = apiKey, BaseUrl = baseUrl ?? paddle.BaseUrl };
        return new PaddleClient(new HttpClient { BaseAddress = options.BaseAddress, Timeout = TimeSpan.FromSeconds(60) }, Options.Create(options), log);
    }

    [Fact]
    public async Task A_cancel_ends_the_subscription_now_and_a_second_one_is_done_too()
    {
        paddle.PlantSubscription("sub_client_ok");
        var first = await Client().CancelSubscriptionNowAsync("sub_client_ok", CancellationToken.None);
        first.ShouldSatisfyAllConditions(r => r.Ok.ShouldBeTrue(), r => r.AlreadyCanceled.ShouldBeFalse(), r => r.Status.ShouldBe("canceled"));
        var second = await Client().CancelSubscriptionNowAsync("sub_client_ok", CancellationToken.None);
        second.ShouldSatisfyAllConditions(r => r.Ok.ShouldBeTrue(), r => r.AlreadyCanceled.ShouldBeTrue());
        paddle.Cancellations.ShouldBe(1);
    }

    [Fact]
    public async Task A_429_and_a_500_are_transient_a_404_and_a_refused_key_are_not_and_the_key_never_shows()
    {
        paddle.PlantSubscription("sub_client_faults");
        paddle.FailNext(429, "sub_client_faults");
        var limited = (await Client().CancelSubscriptionNowAsync("sub_client_faults", CancellationToken.None)).Failure!;
        limited.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeTrue(), f => f.Status.ShouldBe(429), f => f.RetryAfter.ShouldBe(TimeSpan.FromSeconds(7)));
        paddle.FailNext(500, "sub_client_faults");
        var failed = (await Client().CancelSubscriptionNowAsync("sub_client_faults", CancellationToken.None)).Failure!;
        failed.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeTrue(), f => f.Code.ShouldBe("internal_error"));

        var unknown = (await Client().CancelSubscriptionNowAsync("sub_client_unknown", CancellationToken.None)).Failure!;
        unknown.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeFalse(), f => f.Status.ShouldBe(404), f => f.Code.ShouldBe("not_found"));

        const string wrongKey = "pdl_sdbx_apikey_01wrongkeyneverlogged";
        var refused = (await Client(wrongKey).CancelSubscriptionNowAsync("sub_client_faults", CancellationToken.None)).Failure!;
        refused.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeFalse(), f => f.Status.ShouldBe(403), f => f.Code.ShouldBe("invalid_token"));
        refused.Message.ShouldNotContain(wrongKey);
        log.Messages.ShouldNotBeEmpty();
        log.Messages.ShouldAllBe(m => !m.Contains(wrongKey) && !m.Contains(PaddleTestServer.ApiKey));
        paddle.Subscriptions["sub_client_faults"].Status.ShouldBe("active");
    }

    [Fact]
    public async Task Without_a_key_nothing_is_sent_and_the_failure_is_transient()
    {
        var result = await Client(apiKey: "").CancelSubscriptionNowAsync("sub_client_nokey", CancellationToken.None);
        result.Failure!.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeTrue(), f => f.Code.ShouldBe("not_configured"));
        paddle.Requests.ShouldBeEmpty();
    }

    [Fact]
    public async Task Paddle_unreachable_is_transient()
    {
        // A port nothing listens on: the fake's own, once it is stopped.
        var url = paddle.BaseUrl;
        await paddle.DisposeAsync();
        var result = await Client(baseUrl: url).CancelSubscriptionNowAsync("sub_client_down", CancellationToken.None);
        result.Failure!.ShouldSatisfyAllConditions(f => f.Transient.ShouldBeTrue(), f => f.Code.ShouldBe("unreachable"));
        paddle = await PaddleTestServer.StartAsync();
    }

    private sealed class ListLogger : ILogger<PaddleClient>
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> messages = new();

        public IReadOnlyList<string> Messages => messages.ToList();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue(formatter(state, exception) + exception);
    }
}
