using System.Globalization;

namespace Backstop.Tests.Features.ApiKeys;

public abstract class KeyRateLimitTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Of_1300_requests_in_a_minute_with_one_key_1200_pass_and_the_rest_get_429_with_retry_after_and_ratelimit_headers()
    {
        var tenant = await App.CreateTenantAsync();
        var other = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        var statuses = new List<HttpResponseMessage>();
        // 26 rounds of 50 concurrent requests: the limiter, not the order of arrival, decides.
        for (var round = 0; round < 26; round++)
            statuses.AddRange(await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetAsync("/v1/me"))));

        statuses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1200);
        var refused = statuses.Where(r => (int)r.StatusCode == 429).ToList();
        refused.Count.ShouldBe(100);
        var first = refused[0];
        await first.ShouldBeProblemAsync(429, "rate_limited");
        var retryAfter = int.Parse(first.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture);
        retryAfter.ShouldBeInRange(1, 61);
        first.Headers.GetValues("RateLimit-Policy").Single().ShouldBe("\"default\";q=1200;w=60");
        first.Headers.GetValues("RateLimit").Single().ShouldBe($"\"default\";r=0;t={retryAfter}");

        // Another key is not affected; this one is served again once Retry-After has passed.
        (await App.Client(other).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromSeconds(retryAfter - 1));
        ((int)(await client.GetAsync("/v1/me")).StatusCode).ShouldBe(429);
        App.Time.Advance(TimeSpan.FromSeconds(1));
        (await client.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_sliding_window_counts_the_previous_minute_by_its_remaining_weight()
    {
        var client = App.Client(await App.CreateTenantAsync());
        // Align to a minute boundary, then spend 900 in the last quarter of a minute.
        var now = App.Time.GetUtcNow();
        App.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerMinute - now.UtcTicks % TimeSpan.TicksPerMinute) + TimeSpan.FromSeconds(45));
        for (var round = 0; round < 18; round++)
            (await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetAsync("/v1/me")))).ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        // 30 s into the next minute half of the previous minute's 900 still counts: 1200 - 450 = 750 more fit.
        App.Time.Advance(TimeSpan.FromSeconds(45));
        var next = new List<HttpResponseMessage>();
        for (var round = 0; round < 16; round++)
            next.AddRange(await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.GetAsync("/v1/me"))));
        next.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(750);
    }

    [Fact]
    public async Task Endpoints_that_call_the_payment_provider_have_their_own_lower_limit()
    {
        var client = App.Client(await App.CreateTenantAsync());
        for (var i = 0; i < 30; i++)
            ((int)(await client.GetAsync("/v1/billing/plan-change?planCode=pro")).StatusCode).ShouldNotBe(429);
        var refused = await client.GetAsync("/v1/billing/plan-change?planCode=pro");
        await refused.ShouldBeProblemAsync(429, "rate_limited");
        refused.Headers.GetValues("RateLimit-Policy").Single().ShouldBe("\"provider\";q=30;w=60");
        await (await client.PostJsonAsync("/v1/billing/checkout", new { planCode = "pro" })).ShouldBeProblemAsync(429, "rate_limited");
        // Other endpoints still answer: only the provider budget is spent.
        (await client.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_admin_key_is_not_rate_limited()
    {
        var admin = App.AdminClient();
        for (var round = 0; round < 25; round++)
            (await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => admin.GetAsync("/v1/admin/organizations?limit=1"))))
                .ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
    }
}

public sealed class KeyRateLimitTestsOnSqlite(SqliteApp<DefaultSetup> app) : KeyRateLimitTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class KeyRateLimitTestsOnPostgres(PostgresApp<DefaultSetup> app) : KeyRateLimitTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
