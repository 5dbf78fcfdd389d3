using System.Net.Http.Json;
using Backstop.Features.Messaging;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Sms;

namespace Backstop.Tests.Features.Messaging;

public sealed class SmsSegmentsTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(160, 1)]
    [InlineData(161, 2)]
    [InlineData(306, 2)]
    [InlineData(307, 3)]
    [InlineData(1600, 11)]
    public void Gsm7_bodies_count_160_alone_and_153_per_segment(int length, int segments) =>
        SmsSegments.Count(new string('a', length)).ShouldBe(segments);

    [Theory]
    [InlineData(70, 1)]
    [InlineData(71, 2)]
    [InlineData(134, 2)]
    [InlineData(135, 3)]
    [InlineData(1600, 24)]
    public void Unicode_bodies_count_70_alone_and_67_per_segment(int length, int segments) =>
        SmsSegments.Count(new string('é', 1) + new string('ж', length - 1)).ShouldBe(segments);

    [Fact]
    public void Extension_characters_take_two_septets_and_are_never_split()
    {
        SmsSegments.Count(new string('€', 80)).ShouldBe(1);   // 160 septets
        SmsSegments.Count(new string('€', 81)).ShouldBe(2);   // 162 septets: 76 pairs (152) in the first segment, 5 in the second
        SmsSegments.Count(new string('€', 153)).ShouldBe(3);  // 306 septets, but a pair never straddles: 76 + 76 + 1
        SmsSegments.Count(new string('a', 152) + "€").ShouldBe(1);
        SmsSegments.Count(new string('a', 159) + "€").ShouldBe(2);
        SmsSegments.IsGsm7("Hello @ £5 {ok}").ShouldBeTrue();
        SmsSegments.IsGsm7("Hello 😀").ShouldBeFalse();
    }

    [Fact]
    public void A_surrogate_pair_is_never_split_across_segments()
    {
        // 66 units then an emoji (2 units): the emoji goes whole to the second segment.
        SmsSegments.Count(new string('ж', 66) + "😀" + new string('ж', 5)).ShouldBe(2);
        SmsSegments.Count(string.Concat(Enumerable.Repeat("😀", 35))).ShouldBe(1);
        SmsSegments.Count(string.Concat(Enumerable.Repeat("😀", 36))).ShouldBe(2);
    }
}

public abstract class SmsAbuseTests(BackstopFactory app) : AppTest(app)
{
    private TwilioTestServer Twilio => App.SetupAs<MessagingSetup>().Twilio;

    // Usage as Quota stores it (GET /v1/usage/{metric} answers only metrics the organization has a limit for).
    private Task<long> SegmentsUsedAsync(string organizationId) =>
        App.CountAsync("select coalesce(sum(used), 0) from usage_counters where organization_id = @organizationId and metric = 'sms_segments'", new { organizationId });

    [Fact]
    public async Task An_sms_send_and_an_otp_request_are_audited_with_the_recipient_masked()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        var smsId = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "audited" })).JsonAsync()).GetProperty("id").GetString()!;
        var email = $"someone-{Guid.NewGuid():N}@example.com";
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = email })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        await using var connection = await App.OpenAsync();
        var rows = (await connection.QueryAsync<(string Action, string TargetId, string Changes, string? RequestId)>(
            "select action, target_id, changes, request_id from audit_log where organization_id = @organizationId and action in ('sms.send', 'otp.send')",
            new { organizationId })).ToList();
        var sms = rows.Where(r => r.Action == "sms.send").ShouldHaveSingleItem();
        sms.TargetId.ShouldBe(smsId);
        sms.Changes.ShouldNotContain(to);
        sms.Changes.ShouldContain(to[^4..]);
        sms.Changes.ShouldNotContain("audited");
        sms.RequestId.ShouldNotBeNullOrEmpty();
        var otp = rows.Where(r => r.Action == "otp.send").ShouldHaveSingleItem();
        otp.Changes.ShouldNotContain(email);
        otp.Changes.ShouldContain("@example.com");
        // Never the code.
        var code = await connection.ExecuteScalarAsync<string>("select code_hash from otp_codes where id = @id", new { id = otp.TargetId });
        code.ShouldNotBeNull();
        otp.Changes.ShouldNotContain(code);
    }

    [Fact]
    public async Task A_1600_character_unicode_body_counts_24_segments()
    {
        var (client, organizationId) = await App.TenantAsync();
        var body = new string('ж', 1600);
        (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await SegmentsUsedAsync(organizationId)).ShouldBe(24);
        (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "plain" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await SegmentsUsedAsync(organizationId)).ShouldBe(25);
    }

    [Fact]
    public async Task A_tenant_at_its_sms_segments_limit_is_refused_403_and_nothing_is_queued()
    {
        var (client, organizationId) = await App.TenantAsync();
        (await App.AdminClient().PutAsync($"/v1/admin/organizations/{organizationId}/usage/sms_segments/limit",
            System.Net.Http.Json.JsonContent.Create(new { limit = 5 }))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from audit_log where action = 'usage.limit_set' and organization_id = @organizationId and target_id = @target",
            new { organizationId, target = $"{organizationId}:sms_segments" })).ShouldBe(1);
        var threeSegments = new string('a', 400);
        (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = threeSegments })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var refusedTo = MessagingKit.NewNumber();
        await (await client.PostJsonAsync("/v1/sms", new { to = refusedTo, body = threeSegments })).ShouldBeProblemAsync(403, "quota_exceeded");
        // One-time codes by SMS count too: a code is one segment, two fit, the third does not.
        (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to = MessagingKit.NewNumber() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to = MessagingKit.NewNumber() })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to = refusedTo })).ShouldBeProblemAsync(403, "quota_exceeded");

        (await SegmentsUsedAsync(organizationId)).ShouldBe(5);
        (await App.CountAsync("select count(*) from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBe(3);
        (await App.CountAsync("select count(*) from sms_messages where to_number = @refusedTo", new { refusedTo })).ShouldBe(0);
        (await App.CountAsync("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(2);
    }

    [Theory]
    [InlineData("+19002345678")] // US premium rate (900)
    [InlineData("+447400123456")] // a UK mobile: GB is not in Messaging:AllowedCountries
    [InlineData("+881612345678")] // Iridium, global mobile satellite system
    public async Task Premium_satellite_and_not_allowed_countries_are_refused_403(string to)
    {
        var (client, organizationId) = await App.TenantAsync();
        await (await client.PostJsonAsync("/v1/sms", new { to, body = "hello" })).ShouldBeProblemAsync(403, "destination_not_allowed");
        await (await client.PostJsonAsync("/v1/otp", new { channel = "sms", to })).ShouldBeProblemAsync(403, "destination_not_allowed");
        (await App.CountAsync("select count(*) from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBe(0);
        (await App.CountAsync("select count(*) from otp_codes where organization_id = @organizationId", new { organizationId })).ShouldBe(0);
    }

    [Fact]
    public async Task An_organization_over_its_send_rate_gets_429_with_retry_after_and_another_organization_does_not()
    {
        var (client, organizationId) = await App.TenantAsync();
        var (other, _) = await App.TenantAsync();
        for (var i = 0; i < 60; i++)
            (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var refused = await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" });
        await refused.ShouldBeProblemAsync(429, "rate_limited");
        int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture).ShouldBeInRange(1, 60);
        (await other.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await App.CountAsync("select count(*) from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBe(60);

        App.Time.Advance(TimeSpan.FromSeconds(61));
        (await client.PostJsonAsync("/v1/sms", new { to = MessagingKit.NewNumber(), body = "x" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task One_organizations_otp_limits_do_not_affect_another_organization()
    {
        var (first, _) = await App.TenantAsync();
        var (second, _) = await App.TenantAsync();
        var to = $"shared-{Guid.NewGuid():N}@example.com";
        var sent = await first.PostJsonAsync("/v1/otp", new { channel = "email", to });
        sent.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        sent.Headers.CacheControl!.NoStore.ShouldBeTrue();
        for (var i = 0; i < 2; i++)
            (await first.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await first.PostJsonAsync("/v1/otp", new { channel = "email", to })).ShouldBeProblemAsync(429, "rate_limited");
        // The same recipient, another tenant: its own limit.
        (await second.PostJsonAsync("/v1/otp", new { channel = "email", to })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        // The organization's share of a minute (30): the first tenant spends it on distinct recipients...
        for (var i = 0; i < 27; i++)
            (await first.PostJsonAsync("/v1/otp", new { channel = "email", to = $"p{i}-{Guid.NewGuid():N}@example.com" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await (await first.PostJsonAsync("/v1/otp", new { channel = "email", to = $"late-{Guid.NewGuid():N}@example.com" })).ShouldBeProblemAsync(429, "rate_limited");
        // ...and the second is still served.
        (await second.PostJsonAsync("/v1/otp", new { channel = "email", to = $"other-{Guid.NewGuid():N}@example.com" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Deleting_an_organization_cancels_its_pending_sms_and_its_messaging_data_goes_after_the_retention()
    {
        var (client, organizationId) = await App.TenantAsync();
        var to = MessagingKit.NewNumber();
        var smsId = (await (await client.PostJsonAsync("/v1/sms", new { to, body = "never sent" })).JsonAsync()).GetProperty("id").GetString()!;
        (await client.PostJsonAsync("/v1/otp", new { channel = "email", to = $"gone-{Guid.NewGuid():N}@example.com" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var admin = App.AdminClient();
        // Its SMS settings (an operator's row for it) go with the rest: enabled again after a change, the row stays.
        (await admin.PutAsJsonAsync($"/v1/admin/organizations/{organizationId}/sms-settings", new { smsEnabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.CountAsync("select count(*) from organization_sms_settings where organization_id = @organizationId", new { organizationId })).ShouldBe(1);
        (await admin.DeleteAsync($"/v1/admin/organizations/{organizationId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await App.DispatchAsync();
        Twilio.Accepted.ShouldNotContain(r => r.Form["To"] == to);
        (await App.CountAsync("select count(*) from sms_messages where id = @smsId and status = 'failed' and error = 'cancelled: organization deleted'", new { smsId })).ShouldBe(1);

        var progress = (await (await admin.GetAsync($"/v1/admin/organizations/{organizationId}")).JsonAsync()).GetProperty("deletion");
        progress.GetProperty("complete").GetBoolean().ShouldBeFalse();
        progress.GetProperty("remaining").GetProperty("sms_messages").GetInt64().ShouldBe(1);
        progress.GetProperty("remaining").GetProperty("otp_codes").GetInt64().ShouldBe(1);
        progress.GetProperty("remaining").GetProperty("organization_sms_settings").GetInt64().ShouldBe(1);

        // Cleanup:StorageRetentionDays (30) later, the messaging-cleanup sweep has removed them.
        App.Time.Advance(TimeSpan.FromDays(29));
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(MessagingCleanupJob.Id, CancellationToken.None);
        (await App.CountAsync("select count(*) from sms_messages where organization_id = @organizationId", new { organizationId })).ShouldBe(1);
        (await App.CountAsync("select count(*) from organization_sms_settings where organization_id = @organizationId", new { organizationId })).ShouldBe(1);
        App.Time.Advance(TimeSpan.FromDays(2));
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(MessagingCleanupJob.Id, CancellationToken.None);
        // The SMS counted sms_segments: the organization's usage goes with the storage sweep (Quota's retention).
        await App.Service<Backstop.Infrastructure.Jobs.JobRunner>().RunAsync(Backstop.Features.Cleanup.StorageCleanupJob.Id, CancellationToken.None);
        progress = (await (await admin.GetAsync($"/v1/admin/organizations/{organizationId}")).JsonAsync()).GetProperty("deletion");
        progress.GetProperty("remaining").GetProperty("sms_messages").GetInt64().ShouldBe(0);
        progress.GetProperty("remaining").GetProperty("otp_codes").GetInt64().ShouldBe(0);
        progress.GetProperty("remaining").GetProperty("organization_sms_settings").GetInt64().ShouldBe(0);
        (await App.CountAsync("select count(*) from organization_sms_settings where organization_id = @organizationId", new { organizationId })).ShouldBe(0);
        progress.GetProperty("complete").GetBoolean().ShouldBeTrue();
    }
}

public sealed class SmsAbuseTestsOnSqlite(SqliteApp<MessagingSetup> app) : SmsAbuseTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class SmsAbuseTestsOnPostgres(PostgresApp<MessagingSetup> app) : SmsAbuseTests(app), IClassFixture<PostgresApp<MessagingSetup>>;

/// <summary>Its own app: the 5,000-message backlog must not reach other tests' dispatches.</summary>
public abstract class SmsFairnessTests(BackstopFactory app) : AppTest(app)
{
    private TwilioTestServer Twilio => App.SetupAs<MessagingSetup>().Twilio;

    [Fact]
    public async Task With_5000_sms_queued_by_one_organization_another_organizations_next_sms_is_in_the_first_batch()
    {
        var (_, flooding) = await App.TenantAsync();
        var (client, _) = await App.TenantAsync();
        var backlog = Enumerable.Range(0, 5000).Select(i =>
            OutboxSms.Create($"flood-{flooding}-{i}", MessagingKit.NewNumber(), "flood") with { OrganizationId = flooding }).ToList();
        await App.Service<Db>().InTransactionAsync<int>((c, tx) => App.Service<IOutbox>().EnqueueManyAsync(c, tx, backlog, CancellationToken.None));
        App.Time.Advance(TimeSpan.FromSeconds(1)); // the backlog is older than the next message

        var to = MessagingKit.NewNumber();
        (await client.PostJsonAsync("/v1/sms", new { to, body = "your code is ready" })).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        // One claim (the smaller of Outbox:BatchSize and Outbox:Parallelism; at most Twilio:SendRatePerSecond, 10 by default, in production): the
        // messages of one claim leave within the first second of the send rate, so being in it is "within a second".
        var before = Twilio.Accepted.Count();
        var take = Math.Min(5, 16); // Outbox:BatchSize here, Outbox:Parallelism
        (await App.Service<OutboxDispatcher>().DispatchDueAsync(1, CancellationToken.None)).ShouldBe(take);
        var sent = Twilio.Accepted.Skip(before).Select(r => r.Form["To"]).ToList();
        sent.Count.ShouldBe(take);
        sent.ShouldContain(to);
    }
}

public sealed class SmsFairnessTestsOnSqlite(SqliteApp<MessagingSetup> app) : SmsFairnessTests(app), IClassFixture<SqliteApp<MessagingSetup>>;

public sealed class SmsFairnessTestsOnPostgres(PostgresApp<MessagingSetup> app) : SmsFairnessTests(app), IClassFixture<PostgresApp<MessagingSetup>>;
