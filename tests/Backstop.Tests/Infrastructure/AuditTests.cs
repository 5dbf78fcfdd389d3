using System.Net.Http.Json;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Tests.Features.Messaging;

namespace Backstop.Tests.Infrastructure;

public abstract class AuditTests(BackstopFactory app) : AppTest(app)
{
    private async Task<List<JsonElement>> AuditAsync(string query)
    {
        var response = await App.AdminClient().GetAsync("/v1/admin/audit?limit=100&" + query);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("items").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    private static HttpRequestMessage WithRequestId(HttpMethod method, string url, string requestId, object? body = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = JsonContent.Create(body, options: Http.Json);
        request.Headers.Add("X-Request-Id", requestId);
        return request;
    }

    [Fact]
    public async Task Operator_changes_to_an_organization_are_audited_with_actor_target_request_id_and_no_secrets()
    {
        var admin = App.AdminClient();
        var requestId = "audit-" + Guid.NewGuid().ToString("N");
        var created = await admin.SendAsync(WithRequestId(HttpMethod.Post, "/v1/admin/organizations", requestId, new { name = "Audited " + Guid.NewGuid().ToString("N")[..6] }));
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var orgId = (await created.JsonAsync()).GetProperty("id").GetString()!;
        // UUIDv7 ids order by millisecond only: each step a little later, so "newest first" is one order.
        void Later() => App.Time.Advance(TimeSpan.FromMilliseconds(2));
        Later();
        (await admin.PatchAsJsonAsync($"/v1/admin/organizations/{orgId}", new { name = "Renamed" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        Later();
        var member = await (await admin.PostJsonAsync($"/v1/admin/organizations/{orgId}/members", new { email = "m@example.com", role = "admin" })).JsonAsync();
        Later();
        var key = await App.CreateApiKeyAsync(orgId);
        Later();
        var rotated = await (await admin.PostAsync($"/v1/admin/organizations/{orgId}/api-keys/{key.Id}/rotate", null)).JsonAsync();
        Later();
        (await admin.DeleteAsync($"/v1/admin/organizations/{orgId}/api-keys/{rotated.GetProperty("id").GetString()}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        Later();
        (await admin.DeleteAsync($"/v1/admin/organizations/{orgId}/members/{member.GetProperty("id").GetString()}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        Later();
        (await admin.DeleteAsync($"/v1/admin/organizations/{orgId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var entries = await AuditAsync($"organizationId={orgId}");
        entries.Select(e => e.GetProperty("action").GetString()).ShouldBe([
            "organization.delete", "member.remove", "api_key.revoke", "api_key.rotate", "api_key.create", "member.add",
            "organization.update", "organization.create",
        ]);
        entries.ShouldAllBe(e => e.GetProperty("actor").GetString() == "admin");
        var create = entries[^1];
        create.GetProperty("targetType").GetString().ShouldBe("organization");
        create.GetProperty("targetId").GetString().ShouldBe(orgId);
        // The client's X-Request-Id is kept in its own field; the entry's request id is the service's own.
        create.GetProperty("clientRequestId").GetString().ShouldBe(requestId);
        var ours = create.GetProperty("requestId").GetString();
        ours.ShouldNotBeNullOrEmpty();
        ours.ShouldNotBe(requestId);
        entries.Where(e => e.GetProperty("action").GetString() == "organization.update").Select(e => e.TryGetProperty("clientRequestId", out var c) ? c.ValueKind : JsonValueKind.Null).ShouldAllBe(k => k == JsonValueKind.Null);
        create.GetProperty("occurredAt").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow().AddMilliseconds(-14));
        var rename = entries.Single(e => e.GetProperty("action").GetString() == "organization.update").GetProperty("changes").GetProperty("name");
        rename.GetProperty("to").GetString().ShouldBe("Renamed");
        rename.GetProperty("from").GetString()!.ShouldStartWith("Audited ");
        entries.Single(e => e.GetProperty("action").GetString() == "api_key.create").GetProperty("changes").GetProperty("prefix").GetString().ShouldBe(key.Prefix);
        entries.Single(e => e.GetProperty("action").GetString() == "organization.delete").GetProperty("changes").GetProperty("deleted").GetString().ShouldBe("soft");

        // Neither the created key nor the rotated one appears anywhere in the log.
        var all = string.Join("\n", entries.Select(e => e.GetRawText()));
        all.ShouldNotContain(key.Key);
        all.ShouldNotContain(rotated.GetProperty("key").GetString()!);
    }

    [Fact]
    public async Task A_tenant_key_is_recorded_by_its_prefix_and_the_log_filters_by_actor_and_action()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var own = await App.Client(tenant).PostJsonAsync("/v1/api-keys", new { name = "made by tenant" });
        own.StatusCode.ShouldBe(HttpStatusCode.Created);
        var ownId = (await own.JsonAsync()).GetProperty("id").GetString();

        var byActor = await AuditAsync($"actor={tenant.ApiKey.Prefix}");
        var entry = byActor.ShouldHaveSingleItem();
        entry.GetProperty("action").GetString().ShouldBe("api_key.create");
        entry.GetProperty("targetId").GetString().ShouldBe(ownId);
        entry.GetProperty("organizationId").GetString().ShouldBe(tenant.OrganizationId);

        // Action names are matched case-insensitively; unknown ones are refused rather than matching nothing.
        (await AuditAsync($"organizationId={tenant.OrganizationId}&action=API_KEY.CREATE")).Count.ShouldBe(2);
        await (await App.AdminClient().GetAsync("/v1/admin/audit?action=organization.explode")).ShouldBeProblemAsync(400, "validation_failed");
        await (await App.AdminClient().GetAsync("/v1/admin/audit?cursor=garbage")).ShouldBeProblemAsync(400, "invalid_cursor");
        await (await App.Client(tenant).GetAsync("/v1/admin/audit")).ShouldBeProblemAsync(403, "forbidden");
    }

    [Fact]
    public async Task The_log_is_paginated_newest_first()
    {
        var org = await App.CreateOrganizationAsync();
        for (var i = 0; i < 3; i++)
        {
            App.Time.Advance(TimeSpan.FromMilliseconds(2));
            (await App.AdminClient().PatchAsJsonAsync($"/v1/admin/organizations/{org.Id}", new { name = "n" + i })).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        var names = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await App.AdminClient().GetAsync($"/v1/admin/audit?organizationId={org.Id}&action=organization.update&limit=2" + (cursor is null ? "" : "&cursor=" + cursor))).JsonAsync();
            names.AddRange(page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("changes").GetProperty("name").GetProperty("to").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
        } while (cursor is not null);
        names.ShouldBe(["n2", "n1", "n0"]);
    }

    [Fact]
    public async Task A_refused_change_writes_no_entry()
    {
        var org = await App.CreateOrganizationAsync();
        var url = $"/v1/admin/organizations/{org.Id}/members";
        (await App.AdminClient().PostJsonAsync(url, new { externalUserId = "user_a", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await App.AdminClient().PostJsonAsync(url, new { externalUserId = "user_a", role = "owner" })).ShouldBeProblemAsync(409, "member_exists");
        await (await App.AdminClient().PatchAsJsonAsync($"/v1/admin/organizations/{Guid.NewGuid()}", new { name = "x" })).ShouldBeProblemAsync(404, "not_found");

        (await AuditAsync($"organizationId={org.Id}&action=member.add")).Count.ShouldBe(1);
    }

    [Fact]
    public async Task An_outbox_retry_a_job_run_and_sms_settings_are_audited()
    {
        var org = await App.CreateOrganizationAsync();
        (await App.AdminClient().PutAsJsonAsync($"/v1/admin/organizations/{org.Id}/sms-settings", new { smsEnabled = false })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var settings = (await AuditAsync($"organizationId={org.Id}&action=sms_settings.update")).ShouldHaveSingleItem();
        settings.GetProperty("changes").GetProperty("smsEnabled").GetBoolean().ShouldBeFalse();

        var dead = await App.Service<Db>().InTransactionAsync((c, t) => App.Service<IOutbox>().EnqueueAsync(c, t,
            OutboxEmail.Create("test:" + Guid.NewGuid(), "not an address", new EmailContent("S", "T", "<p>T</p>")), CancellationToken.None));
        await App.DispatchAsync();
        (await App.AdminClient().PostAsync($"/v1/admin/outbox/{dead.Id}/retry", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await AuditAsync("action=outbox.retry")).ShouldContain(e => e.GetProperty("targetId").GetString() == dead.Id);

        var run = await (await App.AdminClient().PostAsync("/v1/admin/jobs/job-runs-retention/run", null)).JsonAsync();
        (await AuditAsync("action=job.run")).ShouldContain(e =>
            e.GetProperty("targetId").GetString() == "job-runs-retention" && e.GetProperty("changes").GetProperty("runId").GetString() == run.GetProperty("id").GetString());
    }

    [Fact]
    public async Task An_opt_in_that_hard_deletes_an_opt_out_is_audited_in_the_same_transaction()
    {
        var from = MessagingKit.NewNumber();
        await App.HandleAsync(App.TwilioEvent("sms.inbound", MessagingKit.NewSid(), MessagingKit.Inbound(from, "STOP", MessagingKit.NewSid())));
        App.Time.Advance(TimeSpan.FromSeconds(1));
        await App.HandleAsync(App.TwilioEvent("sms.inbound", MessagingKit.NewSid(), MessagingKit.Inbound(from, "START", MessagingKit.NewSid())));

        await using (var connection = await App.OpenAsync())
            (await connection.ExecuteScalarAsync<long>("select count(*) from sms_opt_outs where phone_number = @from", new { from })).ShouldBe(0);
        var entries = await AuditAsync("actor=provider:twilio");
        var deleted = entries.Single(e => e.GetProperty("action").GetString() == "sms_consent.opt_out_delete"
                                          && e.GetProperty("changes").GetProperty("phoneNumber").GetString() == from);
        deleted.GetProperty("changes").GetProperty("deleted").GetString().ShouldBe("hard");
        entries.ShouldContain(e => e.GetProperty("action").GetString() == "sms_consent.opt_out" && e.GetProperty("targetId").GetString() == from);
    }
}

/// <summary>The dispatcher off: the test delivers, so a message is dead exactly when the test says.</summary>
public sealed class AuditTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => settings["Outbox:DispatcherEnabled"] = "false";
}

public sealed class AuditTestsOnSqlite(SqliteApp<AuditTestsSetup> app) : AuditTests(app), IClassFixture<SqliteApp<AuditTestsSetup>>;

public sealed class AuditTestsOnPostgres(PostgresApp<AuditTestsSetup> app) : AuditTests(app), IClassFixture<PostgresApp<AuditTestsSetup>>;
