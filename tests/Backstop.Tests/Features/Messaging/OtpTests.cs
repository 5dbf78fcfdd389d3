using Backstop.Features.Messaging;

namespace Backstop.Tests.Features.Messaging;

public abstract class OtpTests(BackstopFactory app) : AppTest(app)
{
    private MessagingSetup Servers => App.SetupAs<MessagingSetup>();

    private static string NewEmail() => $"person-{Guid.NewGuid():N}@Example.com";

    /// <summary>Sends a code by email, delivers it through the local SMTP server and reads it from the message received there.</summary>
    private async Task<string> SendEmailCodeAsync(HttpClient client, string to)
    {
        var response = await client.PostJsonAsync("/v1/otp", new { channel = "email", to });
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        await App.DispatchAsync();
        var mail = Servers.Smtp.Received.Last(m => m.To.Contains(to.ToLowerInvariant()));
        mail.Message.HtmlBody.ShouldNotBeNull().ShouldContain("verification code");
        return mail.Message.Subject![^6..];
    }

    private static Task<HttpResponseMessage> VerifyAsync(HttpClient client, string to, string code) =>
        client.PostJsonAsync("/v1/otp/verify", new { to, code });

    [Fact]
    public async Task An_emailed_code_verifies_once_and_only_its_hash_is_stored()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = NewEmail();
        var code = await SendEmailCodeAsync(client, to);
        code.ShouldMatch("^[0-9]{6}$");
        var mail = Servers.Smtp.Received.Single(m => m.To.Contains(to.ToLowerInvariant()));
        mail.Message.TextBody.ShouldNotBeNull().ShouldContain(code);
        mail.Message.TextBody.ShouldContain("10 minutes");

        await using (var connection = await App.OpenAsync())
        {
            var hash = await connection.QuerySingleAsync<string>("select code_hash from otp_codes where organization_id = @organizationId", new { organizationId });
            hash.ShouldNotContain(code);
            hash.Length.ShouldBe(64);
            // The outbox erased the code from its copy once the email was sent.
            var payload = await connection.QuerySingleAsync<string>(
                "select o.payload from outbox_messages o join otp_codes c on o.idempotency_key = 'otp:' || c.id where c.organization_id = @organizationId",
                new { organizationId });
            payload.ShouldBe("{}");
        }

        var wrong = code == "000000" ? "000001" : "000000";
        await (await VerifyAsync(client, to, wrong)).ShouldBeProblemAsync(400, "invalid_code");
        var ok = await VerifyAsync(client, to.ToUpperInvariant(), code); // identifiers are case-insensitive for email
        ok.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await ok.JsonAsync()).GetProperty("verified").GetBoolean().ShouldBeTrue();
        await (await VerifyAsync(client, to, code)).ShouldBeProblemAsync(400, "invalid_code");

        var (otherOrganization, _) = await App.TenantAsync();
        await (await VerifyAsync(otherOrganization, to, code)).ShouldBeProblemAsync(400, "invalid_code");
    }

    [Fact]
    public async Task Twenty_concurrent_verifications_of_the_right_code_succeed_exactly_once()
    {
        var (client, _) = await App.TenantAsync();
        var to = NewEmail();
        var code = await SendEmailCodeAsync(client, to);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => VerifyAsync(client, to, code))));

        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest).ShouldBe(19);
    }

    [Fact]
    public async Task A_wrong_code_spends_an_attempt_and_five_wrong_ones_burn_the_code()
    {
        var (client, _) = await App.TenantAsync();
        var to = NewEmail();
        var code = await SendEmailCodeAsync(client, to);
        var wrong = code == "999999" ? "999998" : "999999";
        for (var i = 0; i < 5; i++)
            await (await VerifyAsync(client, to, wrong)).ShouldBeProblemAsync(400, "invalid_code");
        await (await VerifyAsync(client, to, code)).ShouldBeProblemAsync(400, "invalid_code");
    }

    [Fact]
    public async Task A_code_expires_after_ten_minutes()
    {
        var (client, _) = await App.TenantAsync();
        var to = NewEmail();
        var code = await SendEmailCodeAsync(client, to);
        App.Time.Advance(TimeSpan.FromMinutes(10));
        await (await VerifyAsync(client, to, code)).ShouldBeProblemAsync(400, "invalid_code");

        var fresh = await SendEmailCodeAsync(client, to);
        App.Time.Advance(TimeSpan.FromMinutes(9));
        (await VerifyAsync(client, to, fresh)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Three_codes_per_recipient_per_fifteen_minutes_then_429_with_retry_after()
    {
        var (client, _) = await App.TenantAsync();
        var (otherOrganization, _) = await App.TenantAsync();
        var to = NewEmail();
        for (var i = 0; i < 3; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        var limited = await client.PostJsonAsync("/v1/otp", new { channel = "email", to });
        await limited.ShouldBeProblemAsync(429, "rate_limited");
        var retryAfter = limited.Headers.RetryAfter?.Delta.ShouldNotBeNull() ?? TimeSpan.Zero;
        retryAfter.ShouldBeInRange(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(15));
        // The limit is the organization's own: one tenant flooding a recipient cannot lock another tenant's user out.
        (await otherOrganization.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = NewEmail() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        App.Time.Advance(retryAfter);
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Concurrent_sends_to_one_recipient_never_pass_the_limit()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = NewEmail();
        var responses = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(_ => Task.Run(() => client.PostJsonAsync("/v1/otp", new { channel = "email", to }))));
        responses.Count(r => r.StatusCode == HttpStatusCode.Accepted).ShouldBe(3);
        responses.Count(r => (int)r.StatusCode == 429).ShouldBe(17);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(3);
    }

    /// <summary>Moves the clock to one second before the next multiple of <paramref name="window"/> (where a fixed window would reset).</summary>
    private void AdvanceToJustBeforeABoundaryOf(TimeSpan window)
    {
        var untilBoundary = TimeSpan.FromTicks(window.Ticks - App.Time.GetUtcNow().UtcTicks % window.Ticks);
        App.Time.Advance(untilBoundary > TimeSpan.FromSeconds(1) ? untilBoundary - TimeSpan.FromSeconds(1) : untilBoundary + window - TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task The_recipient_limit_slides_so_a_window_boundary_grants_no_extra_codes()
    {
        var (client, _) = await App.TenantAsync();
        var to = NewEmail();
        AdvanceToJustBeforeABoundaryOf(TimeSpan.FromMinutes(15)); // 12:14:59
        for (var i = 0; i < 3; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        App.Time.Advance(TimeSpan.FromSeconds(1)); // 12:15:00: a fixed window would start counting afresh
        var limited = await client.PostJsonAsync("/v1/otp", new { channel = "email", to });
        await limited.ShouldBeProblemAsync(429, "rate_limited");
        limited.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(15 * 60 - 1)); // the first three leave at 12:29:59

        App.Time.Advance(TimeSpan.FromSeconds(15 * 60 - 2));
        var stillLimited = await client.PostJsonAsync("/v1/otp", new { channel = "email", to });
        await stillLimited.ShouldBeProblemAsync(429, "rate_limited");
        stillLimited.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));

        App.Time.Advance(TimeSpan.FromSeconds(1)); // exactly 15 minutes after the first three
        for (var i = 0; i < 3; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).ShouldBeProblemAsync(429, "rate_limited");
    }

    [Fact]
    public async Task Concurrent_sends_right_after_a_window_boundary_get_only_the_slots_the_last_fifteen_minutes_left()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = NewEmail();
        AdvanceToJustBeforeABoundaryOf(TimeSpan.FromMinutes(15));
        for (var i = 0; i < 2; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        App.Time.Advance(TimeSpan.FromSeconds(1));

        var responses = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(_ => Task.Run(() => client.PostJsonAsync("/v1/otp", new { channel = "email", to }))));

        responses.Count(r => r.StatusCode == HttpStatusCode.Accepted).ShouldBe(1);
        responses.Count(r => (int)r.StatusCode == 429).ShouldBe(19);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(3);
    }

    [Fact]
    public async Task The_cleanup_job_removes_codes_and_rate_limit_entries_a_day_past_their_end_only()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = NewEmail();
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var bucket = $"otp:org:{organizationId}:to:" + to.ToLowerInvariant();
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_rate_events where bucket = @bucket", new { bucket })).ShouldBe(1);
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_rate_limits where bucket = @bucket", new { bucket })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromHours(23));
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(MessagingCleanupJob.Id, CancellationToken.None);
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromHours(2));
        var run = await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(MessagingCleanupJob.Id, CancellationToken.None);
        run.Outcome.ShouldBe("succeeded");
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_rate_events where bucket = @bucket", new { bucket })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from otp_rate_limits where bucket = @bucket", new { bucket })).ShouldBe(0);
    }

    [Fact]
    public async Task A_code_by_sms_goes_through_twilio_and_is_refused_for_opted_out_numbers()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await App.DispatchAsync();
        var body = Servers.Twilio.Accepted.Single(r => r.Form["To"] == to).Form["Body"];
        var code = body.Split(' ').Single(w => w.TrimEnd('.').Length == 6 && w.TrimEnd('.').All(char.IsAsciiDigit)).TrimEnd('.');
        await using (var connection = await App.OpenAsync())
            (await connection.QuerySingleAsync<string?>("select body from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBeNull();
        (await VerifyAsync(client, to, code)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var optedOut = MessagingKit.NewNumber();
        var sid = MessagingKit.NewSid();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", sid, MessagingKit.Inbound(optedOut, "STOPALL", sid)));
        await (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to = optedOut })).ShouldBeProblemAsync(403, "recipient_opted_out");
        await (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to = "not a number" })).ShouldBeProblemAsync(400, "invalid_phone_number");
        await (await client.PostJsonAsync("/v1/otp", new { channel = "pigeon", to = "x@example.com" })).ShouldBeProblemAsync(400, "validation_failed");
    }
}

public sealed class OtpTestsOnSqlite(SqliteApp<MessagingSetup> app) : OtpTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class OtpTestsOnPostgres(PostgresApp<MessagingSetup> app) : OtpTests(app), IClassFixture<PostgresApp<MessagingSetup>>;

/// <summary>The global limit, lowered so the test stays small; its own app so no other test shares the window.</summary>
public abstract class OtpGlobalLimitTests(BackstopFactory app) : AppTest(app)
{
    private static string Someone() => $"g-{Guid.NewGuid():N}@example.com";

    /// <summary>Starts each test two minutes after the previous one (so its sends have left the window), one second before a minute ends.</summary>
    private void StartJustBeforeAMinuteEnds()
    {
        App.Time.Advance(TimeSpan.FromMinutes(2));
        var untilMinute = TimeSpan.FromTicks(TimeSpan.TicksPerMinute - App.Time.GetUtcNow().UtcTicks % TimeSpan.TicksPerMinute);
        App.Time.Advance(untilMinute > TimeSpan.FromSeconds(1) ? untilMinute - TimeSpan.FromSeconds(1) : untilMinute + TimeSpan.FromSeconds(59));
    }

    [Fact]
    public async Task The_global_limit_counts_every_recipient_over_the_last_minute_across_a_minute_boundary()
    {
        var (client, _) = await App.TenantAsync();
        StartJustBeforeAMinuteEnds(); // 12:00:59
        for (var i = 0; i < 5; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() })).ShouldBeProblemAsync(429, "rate_limited");

        App.Time.Advance(TimeSpan.FromSeconds(1)); // 12:01:00: a fixed window would let five more through
        var limited = await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() });
        await limited.ShouldBeProblemAsync(429, "rate_limited");
        limited.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(59));

        App.Time.Advance(TimeSpan.FromSeconds(58));
        await (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() })).ShouldBeProblemAsync(429, "rate_limited");
        App.Time.Advance(TimeSpan.FromSeconds(1));
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Concurrent_sends_to_many_recipients_right_after_a_minute_boundary_never_pass_the_global_limit()
    {
        var (client, _) = await App.TenantAsync();
        StartJustBeforeAMinuteEnds();
        for (var i = 0; i < 3; i++)
            (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        App.Time.Advance(TimeSpan.FromSeconds(1));

        var responses = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(_ => Task.Run(() => client.PostJsonAsync("/v1/otp", new { channel = "email", to = Someone() }))));

        responses.Count(r => r.StatusCode == HttpStatusCode.Accepted).ShouldBe(2);
        responses.Count(r => (int)r.StatusCode == 429).ShouldBe(18);
    }
}

public sealed class OtpGlobalLimitTestsSetup : MessagingSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        base.Configure(settings);
        settings["Messaging:Otp:GlobalLimitPerMinute"] = "5";
    }
}

public sealed class OtpGlobalLimitTestsOnSqlite(SqliteApp<OtpGlobalLimitTestsSetup> app) : OtpGlobalLimitTests(app), IClassFixture<SqliteApp<OtpGlobalLimitTestsSetup>>;

public sealed class OtpGlobalLimitTestsOnPostgres(PostgresApp<OtpGlobalLimitTestsSetup> app) : OtpGlobalLimitTests(app), IClassFixture<PostgresApp<OtpGlobalLimitTestsSetup>>;
