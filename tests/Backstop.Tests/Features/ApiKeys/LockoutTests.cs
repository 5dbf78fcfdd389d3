using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;
using Serilog.Events;

namespace Backstop.Tests.Features.ApiKeys;

/// <summary>Brute-force lockout with the default limits: 10 per address + prefix, 50 per address, 15 minutes.</summary>
public abstract class LockoutTests(BackstopFactory app) : AppTest(app)
{
    public const string TrustedProxy = "10.0.0.1";

    private LogCapture Logs => App.Services.GetServices<ILogEventSink>().OfType<LogCapture>().Single();

    private static string NewIp() => TestClientIpStartupFilter.RandomAddress();

    [Fact]
    public async Task The_eleventh_failed_attempt_is_429_and_a_valid_key_from_the_locked_pair_is_refused_too()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        for (var i = 0; i < 10; i++)
            await (await App.ClientWithKey(typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");

        var eleventh = await App.ClientWithKey(typo, ip).GetAsync("/v1/me");
        await eleventh.ShouldBeProblemAsync(429, "api_key_locked_out");
        eleventh.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromMinutes(15));

        var valid = await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me");
        await valid.ShouldBeProblemAsync(429, "api_key_locked_out");
        valid.Headers.RetryAfter.ShouldNotBeNull();

        // Only that pair: the same key from elsewhere, and another prefix from the same address, still work.
        (await App.ClientWithKey(tenant.Key, NewIp()).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var other = await App.CreateApiKeyAsync(tenant.OrganizationId);
        (await App.ClientWithKey(other.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var warnings = Logs.Events.Where(e => e.Level == LogEventLevel.Warning && e.MessageTemplate.Text.StartsWith("Security:")
            && e.Properties["ClientIp"].ToString() == $"\"{ip}\"").ToList();
        warnings.Count.ShouldBe(1);
        warnings[0].Properties["KeyPrefix"].ToString().ShouldBe($"\"{tenant.ApiKey.Prefix}\"");
        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_auth_lockouts_total{scope=\"pair\"}");
    }

    [Fact]
    public async Task A_concurrent_burst_beyond_the_limit_gets_exactly_the_limit_of_answers_and_no_more()
    {
        // The lock check before verification is a read that a whole burst passes at once; the counter must still
        // let exactly 10 attempts learn "invalid" and answer the rest 429.
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var client = App.ClientWithKey(ApiKeysTests.MistypeSecret(tenant.Key), ip);

        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => client.GetAsync("/v1/me"))));

        responses.Count(r => r.StatusCode == HttpStatusCode.Unauthorized).ShouldBe(10);
        responses.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests).ShouldBe(30);
        responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ShouldAllBe(r => r.Headers.RetryAfter != null);
    }

    [Fact]
    public async Task Dashboard_password_guesses_count_towards_the_lockout_and_a_locked_address_is_refused_the_right_password()
    {
        var ip = NewIp();
        HttpClient Basic(string password)
        {
            var c = App.CreateClient();
            TestClientIpStartupFilter.SetAddress(c, ip);
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("admin:" + password)));
            return c;
        }

        for (var i = 0; i < 10; i++)
            (await Basic("wrong-guess-" + i).GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var right = await Basic(BackstopFactory.AdminKey).GetAsync("/hangfire");
        await right.ShouldBeProblemAsync(429, "api_key_locked_out");
        right.Headers.RetryAfter.ShouldNotBeNull();

        var elsewhere = App.CreateClient();
        TestClientIpStartupFilter.SetAddress(elsewhere, NewIp());
        elsewhere.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("admin:" + BackstopFactory.AdminKey)));
        (await elsewhere.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_locked_pair_is_unlocked_after_fifteen_minutes()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        for (var i = 0; i < 10; i++) await App.ClientWithKey(typo, ip).GetAsync("/v1/me");
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");

        App.Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(1));
        var almost = await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me");
        await almost.ShouldBeProblemAsync(429, "api_key_locked_out");
        almost.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));

        App.Time.Advance(TimeSpan.FromSeconds(1));
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // A fresh window: one more failure is not a lockout.
        await (await App.ClientWithKey(typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Failures_older_than_the_window_do_not_add_up()
    {
        // The window slides with every failure: those fifteen minutes old leave it, the younger ones still count.
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        Task<HttpResponseMessage> Fail() => App.ClientWithKey(typo, ip).GetAsync("/v1/me");

        for (var i = 0; i < 5; i++) await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");       // t0
        App.Time.Advance(TimeSpan.FromMinutes(10));
        for (var i = 0; i < 4; i++) await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");       // t0+10
        App.Time.Advance(TimeSpan.FromMinutes(5));

        // t0+15: the five of t0 have left the window; 4 + 5 = 9 within it.
        for (var i = 0; i < 5; i++) await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The four of t0+10 still count: the next failure is the tenth within fifteen minutes and locks.
        await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }

    [Fact]
    public async Task Failures_fifteen_minutes_old_no_longer_count()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        for (var i = 0; i < 9; i++) await App.ClientWithKey(typo, ip).GetAsync("/v1/me");
        App.Time.Advance(TimeSpan.FromMinutes(15));
        for (var i = 0; i < 9; i++) await (await App.ClientWithKey(typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_burst_across_the_end_of_the_first_failures_window_is_counted_over_the_last_fifteen_minutes()
    {
        // 1 failure at t0, 8 at t0+14:59, then more at t0+15:01. A window anchored at t0 would restart at t0+15:01
        // and let 9 + 9 failures through within two seconds; the sliding window locks at the 10th within 15 minutes.
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        Task<HttpResponseMessage> Fail() => App.ClientWithKey(typo, ip).GetAsync("/v1/me");

        await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");                                  // 1st, t0
        App.Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(1));
        for (var i = 0; i < 8; i++) await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");       // 2nd–9th, t0+14:59
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromSeconds(2));

        // t0+15:01: the failure of t0 has left the window, so the 10th failure is only the 9th within it.
        await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The 11th is the 10th within the last fifteen minutes: answered 401 (it is within the limit) and locks.
        await (await Fail()).ShouldBeProblemAsync(401, "invalid_api_key");
        var twelfth = await Fail();
        await twelfth.ShouldBeProblemAsync(429, "api_key_locked_out");
        twelfth.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromMinutes(15));
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");

        Logs.Events.Count(e => e.Level == LogEventLevel.Warning && e.MessageTemplate.Text.StartsWith("Security:")
            && e.Properties["ClientIp"].ToString() == $"\"{ip}\"").ShouldBe(1);
    }

    [Fact]
    public async Task Ten_failures_spread_over_less_than_fifteen_minutes_lock_and_over_exactly_fifteen_do_not()
    {
        var tenant = await App.CreateTenantAsync();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);

        // 99 seconds apart: the 10th comes 14:51 after the 1st, so all ten are within fifteen minutes.
        var spread = NewIp();
        for (var i = 0; i < 10; i++)
        {
            if (i > 0) App.Time.Advance(TimeSpan.FromSeconds(99));
            await (await App.ClientWithKey(typo, spread).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        }
        var locked = await App.ClientWithKey(tenant.Key, spread).GetAsync("/v1/me");
        await locked.ShouldBeProblemAsync(429, "api_key_locked_out");
        locked.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromMinutes(15));

        // 100 seconds apart: the 10th comes exactly fifteen minutes after the 1st, which has left the window.
        var slower = NewIp();
        for (var i = 0; i < 10; i++)
        {
            if (i > 0) App.Time.Advance(TimeSpan.FromSeconds(100));
            await (await App.ClientWithKey(typo, slower).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        }
        (await App.ClientWithKey(tenant.Key, slower).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The next one 100 seconds later is the 9th within the window again (the 2nd has left it): still no lock.
        App.Time.Advance(TimeSpan.FromSeconds(100));
        await (await App.ClientWithKey(typo, slower).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, slower).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_address_counter_slides_too()
    {
        // 1 failure at t0 and 48 at t0+14:59, each with another prefix; at t0+15:01 the 50th is the 49th within the
        // window, and the 51st (the 50th within it) locks the address.
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        Task<HttpResponseMessage> Guess() => App.ClientWithKey(KeyFormat.Generate().Key, ip).GetAsync("/v1/me");

        await (await Guess()).ShouldBeProblemAsync(401, "invalid_api_key");
        App.Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(1));
        for (var i = 0; i < 48; i++) await (await Guess()).ShouldBeProblemAsync(401, "invalid_api_key");
        App.Time.Advance(TimeSpan.FromSeconds(2));

        await (await Guess()).ShouldBeProblemAsync(401, "invalid_api_key");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await Guess()).ShouldBeProblemAsync(401, "invalid_api_key");
        await (await Guess()).ShouldBeProblemAsync(429, "api_key_locked_out");
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }

    [Fact]
    public async Task An_address_that_varies_the_prefix_is_locked_after_fifty_failures()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        for (var i = 0; i < 50; i++)
            await (await App.ClientWithKey(KeyFormat.Generate().Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");

        await (await App.ClientWithKey(KeyFormat.Generate().Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        await (await App.ClientWithKey("garbage-token", ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        (await App.ClientWithKey(tenant.Key, NewIp()).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        for (var i = 0; i < 10; i++)
        {
            var client = App.ClientWithKey(typo, ip);
            client.DefaultRequestHeaders.Add("X-Forwarded-For", NewIp());
            await client.GetAsync("/v1/me");
        }
        var last = App.ClientWithKey(tenant.Key, ip);
        last.DefaultRequestHeaders.Add("X-Forwarded-For", NewIp());
        await (await last.GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_forwarded_client_address_is_counted()
    {
        var tenant = await App.CreateTenantAsync();
        var (attacker, bystander) = (NewIp(), NewIp());
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        HttpClient ViaProxy(string key, string forwardedFor)
        {
            var client = App.ClientWithKey(key, TrustedProxy);
            client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
            return client;
        }

        // The attacker puts a made-up address in front; the proxy appends the address it saw, which is what counts.
        for (var i = 0; i < 10; i++) await ViaProxy(typo, $"{NewIp()}, {attacker}").GetAsync("/v1/me");

        await (await ViaProxy(tenant.Key, attacker).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        (await ViaProxy(tenant.Key, bystander).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Two_instances_on_one_database_share_the_lockout()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        await using var sibling = new SiblingFactory(App);
        HttpClient SiblingClient(string key)
        {
            var client = sibling.CreateClient();
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            TestClientIpStartupFilter.SetAddress(client, ip);
            return client;
        }

        for (var i = 0; i < 5; i++) await App.ClientWithKey(typo, ip).GetAsync("/v1/me");
        for (var i = 0; i < 5; i++) await (await SiblingClient(typo).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");

        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        await (await SiblingClient(tenant.Key).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }

    [Fact]
    public async Task A_revoked_key_is_refused_without_counting_towards_the_lockout()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = NewIp();
        var other = await App.CreateApiKeyAsync(tenant.OrganizationId);
        await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}");
        for (var i = 0; i < 60; i++) await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
        (await App.ClientWithKey(other.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_cleanup_job_deletes_failure_records_whose_window_and_lock_have_ended()
    {
        var tenant = await App.CreateTenantAsync();
        var (locked, counted) = (NewIp(), NewIp());
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        for (var i = 0; i < 10; i++) await App.ClientWithKey(typo, locked).GetAsync("/v1/me");
        App.Time.Advance(TimeSpan.FromMinutes(10));
        await App.ClientWithKey(typo, counted).GetAsync("/v1/me");
        App.Time.Advance(TimeSpan.FromMinutes(6)); // locked: lock ended; counted: window still open

        var run = await App.Service<JobRunner>().RunAsync(AuthFailuresCleanupJob.Id, CancellationToken.None);
        run.Outcome.ShouldBe("succeeded");

        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failures where ip = @locked", new { locked })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failures where ip = @counted", new { counted })).ShouldBe(2);
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failure_events where ip = @locked", new { locked })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failure_events where ip = @counted", new { counted })).ShouldBe(2);
    }
}

public sealed class LockoutTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => settings["Security:TrustedProxies:0"] = LockoutTests.TrustedProxy;
    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();
}

public sealed class LockoutTestsOnSqlite(SqliteApp<LockoutTestsSetup> app) : LockoutTests(app), IClassFixture<SqliteApp<LockoutTestsSetup>>;

public sealed class LockoutTestsOnPostgres(PostgresApp<LockoutTestsSetup> app) : LockoutTests(app), IClassFixture<PostgresApp<LockoutTestsSetup>>;

/// <summary>Concurrent failures with the pair limit raised to 50: exact counts, and the lock lands exactly at the limit.</summary>
public abstract class LockoutCountingTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Fifty_concurrent_bad_attempts_are_counted_exactly_and_lock_at_exactly_the_limit()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        var client = App.ClientWithKey(typo, ip);

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(() => client.GetAsync("/v1/me"))));
        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.Unauthorized);

        await using var connection = await App.OpenAsync();
        var rows = (await connection.QueryAsync<(string Scope, long Failures, string? LockedUntil)>(
            "select scope, failures, cast(locked_until as text) from auth_failures where ip = @ip", new { ip })).ToDictionary(r => r.Scope);
        rows["pair"].Failures.ShouldBe(50);
        rows["pair"].LockedUntil.ShouldNotBeNull();
        rows["ip"].Failures.ShouldBe(50);
        rows["ip"].LockedUntil.ShouldBeNull();

        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
        var logs = App.Services.GetServices<ILogEventSink>().OfType<LogCapture>().Single();
        logs.Events.Count(e => e.MessageTemplate.Text.StartsWith("Security:") && e.Properties["ClientIp"].ToString() == $"\"{ip}\"").ShouldBe(1);
    }

    [Fact]
    public async Task Forty_nine_concurrent_bad_attempts_do_not_lock()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        var client = App.ClientWithKey(ApiKeysTests.MistypeSecret(tenant.Key), ip);
        await Task.WhenAll(Enumerable.Range(0, 49).Select(_ => Task.Run(() => client.GetAsync("/v1/me"))));
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}

public sealed class LockoutCountingTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["ApiKeys:Lockout:MaxFailuresPerIpAndPrefix"] = "50";
        settings["ApiKeys:Lockout:MaxFailuresPerIp"] = "1000";
    }
    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();
}

public sealed class LockoutCountingTestsOnSqlite(SqliteApp<LockoutCountingTestsSetup> app) : LockoutCountingTests(app), IClassFixture<SqliteApp<LockoutCountingTestsSetup>>;

public sealed class LockoutCountingTestsOnPostgres(PostgresApp<LockoutCountingTestsSetup> app) : LockoutCountingTests(app), IClassFixture<PostgresApp<LockoutCountingTestsSetup>>;
