using System.Net.Http.Json;
using System.Net.Sockets;
using Backstop.Infrastructure.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>
/// DNS for the events API tests: names ending in <c>.public.test</c> resolve to a public address, <c>.internal.test</c>
/// to loopback, <c>.private.test</c> to 10.0.0.7; anything else does not resolve.
/// </summary>
public sealed class TestEventTargetResolver : IEventTargetResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => host switch
    {
        _ when host.EndsWith(".public.test", StringComparison.Ordinal) => Task.FromResult(new[] { IPAddress.Parse("93.184.216.34") }),
        _ when host.EndsWith(".internal.test", StringComparison.Ordinal) => Task.FromResult(new[] { IPAddress.Loopback }),
        _ when host.EndsWith(".private.test", StringComparison.Ordinal) => Task.FromResult(new[] { IPAddress.Parse("93.184.216.34"), IPAddress.Parse("10.0.0.7") }),
        _ => Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound)),
    };
}

/// <summary>
/// The events API with the production URL rules (no http, no private targets) and DNS answered by
/// <see cref="TestEventTargetResolver"/>. The dispatcher is off: these tests decide which deliveries were
/// acknowledged by marking outbox messages sent themselves, and nothing must race them.
/// </summary>
public sealed class EventsApiSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => settings["Outbox:DispatcherEnabled"] = "false";

    public override void ConfigureServices(IServiceCollection services)
    {
        services.RemoveAll<IEventTargetResolver>();
        services.AddSingleton<IEventTargetResolver, TestEventTargetResolver>();
    }
}

public abstract class EventsApiTests(BackstopFactory app) : AppTest(app)
{
    private static string Url() => $"https://hooks-{Guid.NewGuid():N}.public.test/backstop";

    private async Task<JsonElement> CreateEndpointAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostJsonAsync(path, body);
        ((int)response.StatusCode).ShouldBe(201, await response.Content.ReadAsStringAsync());
        return await response.JsonAsync();
    }

    private Task<string> PublishAsync(string type, string? organizationId, object data) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IEventPublisher>().PublishAsync(c, t, type, organizationId, data, CancellationToken.None));

    private async Task<List<string>> MessageKeysAsync(string endpointId)
    {
        await using var connection = await App.OpenAsync();
        return (await connection.QueryAsync<string>(
            "select idempotency_key from outbox_messages where channel = 'event' and payload like @endpoint",
            new { endpoint = $"%\"endpointId\":\"{endpointId}\"%" })).ToList();
    }

    [Fact]
    public async Task An_organization_registers_an_endpoint_sees_its_secret_once_and_manages_it()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var url = Url();

        var response = await client.PostJsonAsync("/v1/event-endpoints", new { url, eventTypes = new[] { "meeting.*", "sms.delivered" }, description = "CRM sync", rateLimitPerSecond = 5 });
        ((int)response.StatusCode).ShouldBe(201, await response.Content.ReadAsStringAsync());
        response.Headers.CacheControl?.NoStore.ShouldBeTrue();
        var created = await response.JsonAsync();
        var secret = created.GetProperty("secret").GetString()!;
        secret.ShouldStartWith("whsec_");
        Convert.FromBase64String(secret["whsec_".Length..]).Length.ShouldBeGreaterThanOrEqualTo(24);
        var endpoint = created.GetProperty("endpoint");
        var id = endpoint.GetProperty("id").GetString()!;
        endpoint.GetProperty("organizationId").GetString().ShouldBe(tenant.OrganizationId);
        endpoint.GetProperty("url").GetString().ShouldBe(url);
        endpoint.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        endpoint.GetProperty("rateLimitPerSecond").GetInt32().ShouldBe(5);

        var fetched = await (await client.GetAsync($"/v1/event-endpoints/{id}")).JsonAsync();
        fetched.GetProperty("eventTypes").EnumerateArray().Select(e => e.GetString()).ShouldBe(["meeting.*", "sms.delivered"]);
        fetched.ToString().ShouldNotContain(secret);
        fetched.TryGetProperty("secret", out _).ShouldBeFalse();
        var list = await (await client.GetAsync("/v1/event-endpoints")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()).ShouldBe([id]);

        var patched = await client.PatchAsJsonAsync($"/v1/event-endpoints/{id}", new { eventTypes = Array.Empty<string>(), description = "", enabled = false }, Http.Json);
        ((int)patched.StatusCode).ShouldBe(200, await patched.Content.ReadAsStringAsync());
        var after = await patched.JsonAsync();
        after.GetProperty("eventTypes").ValueKind.ShouldBe(JsonValueKind.Null);
        after.GetProperty("description").ValueKind.ShouldBe(JsonValueKind.Null);
        after.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        after.GetProperty("disabledReason").GetString().ShouldBe("disabled_by_owner");
        after.GetProperty("url").GetString().ShouldBe(url);

        (await client.DeleteAsync($"/v1/event-endpoints/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await client.GetAsync($"/v1/event-endpoints/{id}")).ShouldBeProblemAsync(404, "not_found");
        await (await client.DeleteAsync($"/v1/event-endpoints/{id}")).ShouldBeProblemAsync(404, "not_found");

        await using var connection = await App.OpenAsync();
        var audit = (await connection.QueryAsync<(string Action, string? Changes)>(
            "select action, changes from audit_log where target_id = @id order by occurred_at, id", new { id })).ToList();
        // One row each (the fake clock stands still, so their order is not the test's point).
        audit.Select(a => a.Action).Order().ShouldBe(["event_endpoint.create", "event_endpoint.delete", "event_endpoint.update"]);
        var secretPart = secret["whsec_".Length..];
        audit.ShouldAllBe(a => a.Changes == null || !a.Changes.Contains(secretPart));
        (await connection.QuerySingleAsync<string>("select secret_protected from event_endpoints where id = @id", new { id })).ShouldNotContain(secret["whsec_".Length..]);
    }

    [Fact]
    public async Task Bad_urls_and_unknown_event_types_are_refused_with_422_and_nothing_is_stored()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        (string Url, string[]? Types, string Code)[] cases =
        [
            ("not a url", null, "invalid_url"),
            ("ftp://hooks.public.test/x", null, "invalid_url"),
            ("http://hooks.public.test/x", null, "url_not_https"),
            ("https://user:secret@hooks.public.test/x", null, "invalid_url"),
            ("https://hooks.internal.test/x", null, "url_target_forbidden"),
            ("https://hooks.private.test/x", null, "url_target_forbidden"),
            ("https://127.0.0.1/x", null, "url_target_forbidden"),
            ("https://[::1]/x", null, "url_target_forbidden"),
            ("https://169.254.169.254/latest/meta-data", null, "url_target_forbidden"),
            ("https://nowhere.invalid/x", null, "url_unresolvable"),
            (Url(), ["meeting.exploded"], "unknown_event_type"),
            (Url(), ["meetings.*"], "unknown_event_type"),
        ];
        foreach (var (url, types, code) in cases)
            await (await client.PostJsonAsync("/v1/event-endpoints", new { url, eventTypes = types })).ShouldBeProblemAsync(422, code);
        await (await client.PostJsonAsync("/v1/event-endpoints", new { url = "" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await client.PostJsonAsync("/v1/event-endpoints", new { url = Url(), rateLimitPerSecond = 0 })).ShouldBeProblemAsync(400, "validation_failed");

        var list = await (await client.GetAsync("/v1/event-endpoints")).JsonAsync();
        list.GetProperty("items").GetArrayLength().ShouldBe(0);

        // A change is held to the same rules, and a refused one changes nothing.
        var created = await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url() });
        var id = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        await (await client.PatchAsJsonAsync($"/v1/event-endpoints/{id}", new { url = "https://hooks.internal.test/x" }, Http.Json)).ShouldBeProblemAsync(422, "url_target_forbidden");
        await (await client.PatchAsJsonAsync($"/v1/event-endpoints/{id}", new { eventTypes = new[] { "nope" } }, Http.Json)).ShouldBeProblemAsync(422, "unknown_event_type");
        var unchanged = await (await client.GetAsync($"/v1/event-endpoints/{id}")).JsonAsync();
        unchanged.GetProperty("url").GetString().ShouldBe(created.GetProperty("endpoint").GetProperty("url").GetString());
        unchanged.GetProperty("eventTypes").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task A_key_without_the_admin_scope_cannot_manage_endpoints()
    {
        var organization = await App.CreateOrganizationAsync();
        var read = App.ClientWithKey((await App.CreateApiKeyAsync(organization.Id, "read")).Key);
        var write = App.ClientWithKey((await App.CreateApiKeyAsync(organization.Id, "read", "write")).Key);
        foreach (var client in new[] { read, write })
        {
            await (await client.PostJsonAsync("/v1/event-endpoints", new { url = Url() })).ShouldBeProblemAsync(403, "insufficient_scope");
            await (await client.GetAsync("/v1/event-endpoints")).ShouldBeProblemAsync(403, "insufficient_scope");
        }
        // Reading the organization's own events needs only read.
        (await read.GetAsync("/v1/events")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The operator's routes take the admin key only.
        await (await read.GetAsync("/v1/admin/event-endpoints")).ShouldBeProblemAsync(403, "forbidden");
    }

    [Fact]
    public async Task Another_organization_can_neither_see_nor_change_an_endpoint()
    {
        var a = await App.CreateTenantAsync("admin");
        var b = await App.CreateTenantAsync("admin");
        var created = await CreateEndpointAsync(App.Client(a), "/v1/event-endpoints", new { url = Url() });
        var id = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        var eventId = await PublishAsync(EventTypes.MeetingCreated, a.OrganizationId, new { id = "m1" });
        var other = App.Client(b);

        await (await other.GetAsync($"/v1/event-endpoints/{id}")).ShouldBeProblemAsync(404, "not_found");
        await (await other.PatchAsJsonAsync($"/v1/event-endpoints/{id}", new { description = "mine" }, Http.Json)).ShouldBeProblemAsync(404, "not_found");
        await (await other.DeleteAsync($"/v1/event-endpoints/{id}")).ShouldBeProblemAsync(404, "not_found");
        await (await other.PostJsonAsync($"/v1/event-endpoints/{id}/rotate-secret", new { })).ShouldBeProblemAsync(404, "not_found");
        await (await other.PostJsonAsync($"/v1/event-endpoints/{id}/enable", new { })).ShouldBeProblemAsync(404, "not_found");
        await (await other.PostJsonAsync($"/v1/event-endpoints/{id}/replay", new { eventId })).ShouldBeProblemAsync(404, "not_found");
        await (await other.PostJsonAsync($"/v1/event-endpoints/{id}/recover", new { since = App.Time.GetUtcNow().AddHours(-1) })).ShouldBeProblemAsync(404, "not_found");
        await (await other.GetAsync($"/v1/events/{eventId}")).ShouldBeProblemAsync(404, "not_found");
        (await (await other.GetAsync("/v1/event-endpoints")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);
        // Nor is it the operator's.
        await (await App.AdminClient().GetAsync($"/v1/admin/event-endpoints/{id}")).ShouldBeProblemAsync(404, "not_found");

        // And it is unchanged for its owner.
        var mine = await (await App.Client(a).GetAsync($"/v1/event-endpoints/{id}")).JsonAsync();
        mine.GetProperty("description").ValueKind.ShouldBe(JsonValueKind.Null);
        // B's event endpoint (on B's own events) cannot replay A's event either.
        var bEndpoint = (await CreateEndpointAsync(other, "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        await (await other.PostJsonAsync($"/v1/event-endpoints/{bEndpoint}/replay", new { eventId })).ShouldBeProblemAsync(404, "not_found");
    }

    [Fact]
    public async Task Organization_endpoints_get_only_their_own_events_and_the_operators_get_all()
    {
        var a = await App.CreateTenantAsync("admin");
        var b = await App.CreateTenantAsync("admin");
        var endpointA = (await CreateEndpointAsync(App.Client(a), "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var endpointB = (await CreateEndpointAsync(App.Client(b), "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var operatorEndpoint = (await CreateEndpointAsync(App.AdminClient(), "/v1/admin/event-endpoints", new { url = Url() })).GetProperty("endpoint");
        operatorEndpoint.GetProperty("organizationId").ValueKind.ShouldBe(JsonValueKind.Null);
        var operatorId = operatorEndpoint.GetProperty("id").GetString()!;

        var types = EventTypes.All.Keys.Take(20).ToList();
        var eventsA = new List<string>();
        var eventsB = new List<string>();
        foreach (var type in types)
        {
            eventsA.Add(await PublishAsync(type, a.OrganizationId, new { type }));
            eventsB.Add(await PublishAsync(type, b.OrganizationId, new { type }));
        }

        (await MessageKeysAsync(endpointA)).Order().ShouldBe(eventsA.Select(e => EventDelivery.IdempotencyKey(e, endpointA)).Order());
        (await MessageKeysAsync(endpointB)).Order().ShouldBe(eventsB.Select(e => EventDelivery.IdempotencyKey(e, endpointB)).Order());
        var operatorKeys = await MessageKeysAsync(operatorId);
        operatorKeys.Count.ShouldBe(40);
        operatorKeys.Order().ShouldBe(eventsA.Concat(eventsB).Select(e => EventDelivery.IdempotencyKey(e, operatorId)).Order());
    }

    [Fact]
    public async Task Deleting_an_organization_deletes_its_endpoints_cancels_their_pending_deliveries_and_tells_only_the_operator()
    {
        var a = await App.CreateTenantAsync("admin");
        var own = (await CreateEndpointAsync(App.Client(a), "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var operatorId = (await CreateEndpointAsync(App.AdminClient(), "/v1/admin/event-endpoints", new { url = Url(), eventTypes = new[] { "organization.*" } }))
            .GetProperty("endpoint").GetProperty("id").GetString()!;
        var before = await PublishAsync(EventTypes.MeetingCreated, a.OrganizationId, new { id = "m_1" });

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{a.OrganizationId}")).IsSuccessStatusCode.ShouldBeTrue();

        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from event_endpoints where id = @own and deleted_at is not null and enabled = @no",
            new { own, no = false })).ShouldBe(1);
        (await connection.ExecuteScalarAsync<string>("select status from outbox_messages where idempotency_key = @key",
            new { key = EventDelivery.IdempotencyKey(before, own) })).ShouldBe("dead");
        var deleted = await connection.ExecuteScalarAsync<string>("select id from events where organization_id = @org and type = @type",
            new { org = a.OrganizationId, type = EventTypes.OrganizationDeleted });
        (await MessageKeysAsync(own)).ShouldNotContain(EventDelivery.IdempotencyKey(deleted!, own));
        (await MessageKeysAsync(operatorId)).ShouldContain(EventDelivery.IdempotencyKey(deleted!, operatorId));
    }

    [Fact]
    public async Task Rotation_keeps_the_previous_secret_valid_and_signing_for_24_hours()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var created = await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url() });
        var id = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        var first = created.GetProperty("secret").GetString()!;

        var rotated = await client.PostJsonAsync($"/v1/event-endpoints/{id}/rotate-secret", new { });
        ((int)rotated.StatusCode).ShouldBe(200, await rotated.Content.ReadAsStringAsync());
        rotated.Headers.CacheControl?.NoStore.ShouldBeTrue();
        var body = await rotated.JsonAsync();
        var second = body.GetProperty("secret").GetString()!;
        second.ShouldStartWith("whsec_");
        second.ShouldNotBe(first);
        var now = App.Time.GetUtcNow();
        body.GetProperty("endpoint").GetProperty("previousSecretExpiresAt").GetDateTimeOffset().ShouldBe(now.AddHours(24));

        // What delivery signs with: the current secret, and the previous one until it expires.
        var secrets = App.Service<EventSecrets>();
        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<(string Current, string? Previous, DateTimeOffset? Expires)>(
            "select secret_protected, previous_secret_protected, previous_secret_expires_at from event_endpoints where id = @id", new { id });
        secrets.Unprotect(row.Current).ShouldBe(second);
        secrets.Unprotect(row.Previous!).ShouldBe(first);
        row.Expires.ShouldBe(now.AddHours(24));

        App.Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        var later = await (await client.GetAsync($"/v1/event-endpoints/{id}")).JsonAsync();
        later.GetProperty("previousSecretExpiresAt").ValueKind.ShouldBe(JsonValueKind.Null);

        // A second rotation drops the first secret: the previous one is now the second.
        var third = (await (await client.PostJsonAsync($"/v1/event-endpoints/{id}/rotate-secret", new { })).JsonAsync()).GetProperty("secret").GetString()!;
        var again = await connection.QuerySingleAsync<(string Current, string? Previous)>(
            "select secret_protected, previous_secret_protected from event_endpoints where id = @id", new { id });
        secrets.Unprotect(again.Current).ShouldBe(third);
        secrets.Unprotect(again.Previous!).ShouldBe(second);
        (await connection.QueryAsync<string>("select action from audit_log where target_id = @id", new { id })).Count(a => a == "event_endpoint.rotate_secret").ShouldBe(2);
    }

    [Fact]
    public async Task Enabling_a_disabled_endpoint_clears_its_failing_streak()
    {
        var created = await CreateEndpointAsync(App.AdminClient(), "/v1/admin/event-endpoints", new { url = Url() });
        var id = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        var now = App.Time.GetUtcNow();
        await using (var connection = await App.OpenAsync())
        {
            // As delivery leaves an endpoint it disabled after days of failures.
            await connection.ExecuteAsync(
                "update event_endpoints set enabled = @enabled, failing_since = @since, disabled_at = @now, disabled_reason = 'failing' where id = @id",
                new { id, enabled = false, since = now.AddDays(-5), now });
        }
        var enabled = await App.AdminClient().PostJsonAsync($"/v1/admin/event-endpoints/{id}/enable", new { });
        ((int)enabled.StatusCode).ShouldBe(200, await enabled.Content.ReadAsStringAsync());
        var body = await enabled.JsonAsync();
        body.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        body.GetProperty("disabledAt").ValueKind.ShouldBe(JsonValueKind.Null);
        body.GetProperty("failingSince").ValueKind.ShouldBe(JsonValueKind.Null);
        body.GetProperty("disabledReason").ValueKind.ShouldBe(JsonValueKind.Null);

        // Enabled again, it receives events again.
        var eventId = await PublishAsync(EventTypes.OrganizationCreated, null, new { id = "o" });
        (await MessageKeysAsync(id)).ShouldContain(EventDelivery.IdempotencyKey(eventId, id));
    }

    [Fact]
    public async Task Concurrent_creations_never_pass_the_endpoint_limit()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var responses = await Task.WhenAll(Enumerable.Range(0, 25).Select(_ => Task.Run(() => App.Client(tenant).PostJsonAsync("/v1/event-endpoints", new { url = Url() }))));
        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(EventEndpointStore.MaxEndpointsPerOwner);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await refused.ShouldBeProblemAsync(409, "endpoint_limit_reached");
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<long>("select count(*) from event_endpoints where organization_id = @org and deleted_at is null",
            new { org = tenant.OrganizationId })).ShouldBe(EventEndpointStore.MaxEndpointsPerOwner);

        // Deleting one frees its slot.
        var id = await connection.QueryFirstAsync<string>("select id from event_endpoints where organization_id = @org", new { org = tenant.OrganizationId });
        (await App.Client(tenant).DeleteAsync($"/v1/event-endpoints/{id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.Client(tenant).PostJsonAsync("/v1/event-endpoints", new { url = Url() })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await App.Client(tenant).PostJsonAsync("/v1/event-endpoints", new { url = Url() })).ShouldBeProblemAsync(409, "endpoint_limit_reached");
    }

    [Fact]
    public async Task An_organization_lists_and_reads_only_its_own_events_with_their_deliveries()
    {
        var a = await App.CreateTenantAsync("admin");
        var b = await App.CreateTenantAsync("admin");
        var endpointA = (await CreateEndpointAsync(App.Client(a), "/v1/event-endpoints", new { url = Url(), eventTypes = new[] { "meeting.*" } })).GetProperty("endpoint").GetProperty("id").GetString()!;
        // Creating the tenants wrote their own events (organization.created, api_key.created): listed from here on.
        long earlier;
        await using (var count = await App.OpenAsync())
            earlier = await count.ExecuteScalarAsync<long>("select count(*) from events where organization_id = @org", new { org = a.OrganizationId });
        App.Time.Advance(TimeSpan.FromMinutes(1));
        var since = "after=" + Uri.EscapeDataString(App.Time.GetUtcNow().AddSeconds(-1).ToString("O"));
        var created = await PublishAsync(EventTypes.MeetingCreated, a.OrganizationId, new { id = "m1", status = "scheduled" });
        App.Time.Advance(TimeSpan.FromMinutes(1));
        var sms = await PublishAsync(EventTypes.SmsDelivered, a.OrganizationId, new { id = "s1" });
        var transcribed = await PublishAsync(EventTypes.MeetingTranscribed, a.OrganizationId, new { id = "m1" });
        var others = await PublishAsync(EventTypes.MeetingCreated, b.OrganizationId, new { id = "m9" });
        var client = App.Client(a);

        var all = await (await client.GetAsync($"/v1/events?{since}")).JsonAsync();
        all.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()).ShouldBe(new[] { created, sms, transcribed }.OrderDescending(StringComparer.Ordinal));
        var meetings = await (await client.GetAsync("/v1/events?type=meeting.*")).JsonAsync();
        meetings.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()).Order().ShouldBe(new[] { created, transcribed }.Order());
        var exact = await (await client.GetAsync("/v1/events?type=sms.delivered")).JsonAsync();
        exact.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()).ShouldBe([sms]);
        var after = await (await client.GetAsync($"/v1/events?after={Uri.EscapeDataString(App.Time.GetUtcNow().AddSeconds(-1).ToString("O"))}")).JsonAsync();
        after.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()).Order().ShouldBe(new[] { sms, transcribed }.Order());

        // Pages of one, by cursor, cover the three exactly once.
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync($"/v1/events?{since}&limit=1" + (cursor is null ? "" : "&cursor=" + cursor))).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
        } while (cursor is not null);
        seen.Order().ShouldBe(new[] { created, sms, transcribed }.Order());
        await (await client.GetAsync("/v1/events?cursor=garbage")).ShouldBeProblemAsync(400, "invalid_cursor");
        await (await client.GetAsync("/v1/events?type=meeting.exploded")).ShouldBeProblemAsync(400, "unknown_event_type");

        var detail = await (await client.GetAsync($"/v1/events/{created}")).JsonAsync();
        var e = detail.GetProperty("event");
        e.GetProperty("type").GetString().ShouldBe("meeting.created");
        e.GetProperty("organizationId").GetString().ShouldBe(a.OrganizationId);
        e.GetProperty("sequence").GetInt64().ShouldBe(earlier + 1);
        e.GetProperty("version").GetInt32().ShouldBe(1);
        e.GetProperty("data").GetProperty("status").GetString().ShouldBe("scheduled");
        var delivery = detail.GetProperty("deliveries").EnumerateArray().Single();
        delivery.GetProperty("endpointId").GetString().ShouldBe(endpointA);
        delivery.GetProperty("kind").GetString().ShouldBe("first");
        delivery.GetProperty("status").GetString().ShouldBe("pending");
        (await (await client.GetAsync($"/v1/events/{sms}")).JsonAsync()).GetProperty("deliveries").GetArrayLength().ShouldBe(0);
        await (await client.GetAsync($"/v1/events/{others}")).ShouldBeProblemAsync(404, "not_found");

        // The operator sees every organization's, and can narrow to one.
        var admin = await (await App.AdminClient().GetAsync($"/v1/admin/events?organizationId={b.OrganizationId}&{since}")).JsonAsync();
        admin.GetProperty("items").EnumerateArray().Select(x => x.GetProperty("id").GetString()).ShouldBe([others]);
        (await App.AdminClient().GetAsync($"/v1/admin/events/{created}")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_replay_sends_the_same_event_again_as_a_new_delivery()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var endpoint = (await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url(), eventTypes = new[] { "meeting.*" } })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var eventId = await PublishAsync(EventTypes.MeetingCreated, tenant.OrganizationId, new { id = "m1" });

        for (var n = 1; n <= 2; n++)
        {
            var replay = await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/replay", new { eventId });
            ((int)replay.StatusCode).ShouldBe(202, await replay.Content.ReadAsStringAsync());
            (await replay.JsonAsync()).GetProperty("replay").GetInt32().ShouldBe(n);
        }
        (await MessageKeysAsync(endpoint)).Order().ShouldBe(new[]
        {
            EventDelivery.IdempotencyKey(eventId, endpoint),
            EventDelivery.IdempotencyKey(eventId, endpoint) + ":replay:1",
            EventDelivery.IdempotencyKey(eventId, endpoint) + ":replay:2",
        }.Order());
        var deliveries = (await (await client.GetAsync($"/v1/events/{eventId}")).JsonAsync()).GetProperty("deliveries").EnumerateArray().ToList();
        deliveries.Select(d => d.GetProperty("kind").GetString()).Order().ShouldBe(["first", "replay", "replay"]);

        var sms = await PublishAsync(EventTypes.SmsDelivered, tenant.OrganizationId, new { id = "s1" });
        await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/replay", new { eventId = sms })).ShouldBeProblemAsync(422, "event_not_subscribed");
        await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/replay", new { eventId = "evt_nope" })).ShouldBeProblemAsync(404, "not_found");
        await using var connection = await App.OpenAsync();
        (await connection.QueryAsync<string>("select action from audit_log where target_id = @endpoint", new { endpoint })).Count(a => a == "event.replay").ShouldBe(2);
    }

    [Fact]
    public async Task Concurrent_replays_of_one_event_each_get_their_own_delivery()
    {
        var created = await CreateEndpointAsync(App.AdminClient(), "/v1/admin/event-endpoints", new { url = Url(), eventTypes = new[] { "organization.created" } });
        var endpoint = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        var eventId = await PublishAsync(EventTypes.OrganizationCreated, null, new { id = "o1" });
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => App.AdminClient().PostJsonAsync($"/v1/admin/event-endpoints/{endpoint}/replay", new { eventId }))));
        foreach (var r in responses) ((int)r.StatusCode).ShouldBe(202, await r.Content.ReadAsStringAsync());
        var numbers = new List<int>();
        foreach (var r in responses) numbers.Add((await r.JsonAsync()).GetProperty("replay").GetInt32());
        numbers.Order().ShouldBe(Enumerable.Range(1, 20));
        (await MessageKeysAsync(endpoint)).Count.ShouldBe(21);
    }

    [Fact]
    public async Task Recovery_resends_exactly_the_unacknowledged_events_since_a_time_and_a_dry_run_counts_them()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var endpoint = (await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url(), eventTypes = new[] { "meeting.*" } })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var before = await PublishAsync(EventTypes.MeetingCreated, tenant.OrganizationId, new { id = "old" });
        App.Time.Advance(TimeSpan.FromHours(1));
        var since = App.Time.GetUtcNow();
        var events = new List<string>();
        for (var i = 0; i < 10; i++) events.Add(await PublishAsync(EventTypes.MeetingCreated, tenant.OrganizationId, new { id = "m" + i }));
        // Not subscribed, and another organization's: never part of the recovery.
        await PublishAsync(EventTypes.SmsDelivered, tenant.OrganizationId, new { id = "s" });
        await PublishAsync(EventTypes.MeetingCreated, (await App.CreateOrganizationAsync()).Id, new { id = "x" });
        // Four were acknowledged (their first delivery answered 2xx).
        var acknowledged = events.Take(4).ToList();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync($"update outbox_messages set status = 'sent', sent_at = @now where {In("keys")}",
            new { now = App.Time.GetUtcNow(), keys = acknowledged.Select(e => EventDelivery.IdempotencyKey(e, endpoint)).ToArray() });
        // One more was replayed, and the replay acknowledged: that counts as acknowledged too.
        var replayed = await PublishAsync(EventTypes.MeetingDeleted, tenant.OrganizationId, new { id = "r" });
        (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/replay", new { eventId = replayed })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await connection.ExecuteAsync("update outbox_messages set status = 'sent', sent_at = @now where idempotency_key = @key",
            new { now = App.Time.GetUtcNow(), key = EventDelivery.IdempotencyKey(replayed, endpoint) + ":replay:1" });
        var owed = events.Skip(4).ToList();

        var dry = await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover?dryRun=true", new { since });
        ((int)dry.StatusCode).ShouldBe(202, await dry.Content.ReadAsStringAsync());
        var dryBody = await dry.JsonAsync();
        dryBody.GetProperty("total").GetInt32().ShouldBe(6);
        dryBody.GetProperty("dryRun").GetBoolean().ShouldBeTrue();
        dryBody.GetProperty("recovery").ValueKind.ShouldBe(JsonValueKind.Null);
        (await connection.QuerySingleAsync<long>("select count(*) from event_recoveries where endpoint_id = @endpoint", new { endpoint })).ShouldBe(0);

        var started = await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since })).JsonAsync();
        started.GetProperty("total").GetInt32().ShouldBe(6);
        var recovery = started.GetProperty("recovery");
        var recoveryId = recovery.GetProperty("id").GetString()!;
        recovery.GetProperty("status").GetString().ShouldBe("running");
        recovery.GetProperty("enqueued").GetInt32().ShouldBe(0);

        await RunRecoveryJobAsync();

        var done = await (await client.GetAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}")).JsonAsync();
        done.GetProperty("status").GetString().ShouldBe("completed");
        done.GetProperty("enqueued").GetInt32().ShouldBe(6);
        var recovered = (await MessageKeysAsync(endpoint)).Where(k => k.EndsWith(":recovery:" + recoveryId, StringComparison.Ordinal)).ToList();
        recovered.Order().ShouldBe(owed.Select(e => EventDelivery.IdempotencyKey(e, endpoint) + ":recovery:" + recoveryId).Order());
        recovered.ShouldNotContain(k => k.Contains(before, StringComparison.Ordinal));

        // Once the recovered deliveries are acknowledged, nothing is owed.
        await connection.ExecuteAsync($"update outbox_messages set status = 'sent', sent_at = @now where {In("recovered")}", new { now = App.Time.GetUtcNow(), recovered });
        (await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover?dryRun=true", new { since })).JsonAsync()).GetProperty("total").GetInt32().ShouldBe(0);
        (await (await client.GetAsync($"/v1/events/{owed[0]}")).JsonAsync()).GetProperty("deliveries").EnumerateArray()
            .Select(d => d.GetProperty("kind").GetString()).Order().ShouldBe(["first", "recovery"]);

        await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since = App.Time.GetUtcNow().AddDays(-8) })).ShouldBeProblemAsync(422, "recovery_window_exceeded");
        await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { })).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task A_recovery_works_in_bounded_batches_and_a_cancelled_one_enqueues_no_more()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var endpoint = (await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url(), enabled = false })).GetProperty("endpoint").GetProperty("id").GetString()!;
        App.Time.Advance(TimeSpan.FromSeconds(1)); // after the tenant's own organization.created and api_key.created
        var since = App.Time.GetUtcNow();
        // Published while the endpoint was disabled: none was delivered to it at all.
        var count = EventRedeliveries.BatchSize + 20;
        await App.Service<Db>().InTransactionAsync(async (c, t) =>
        {
            for (var i = 0; i < count; i++)
                await App.Service<IEventPublisher>().PublishAsync(c, t, EventTypes.ApiKeyCreated, tenant.OrganizationId, new { id = i }, CancellationToken.None);
        });
        (await MessageKeysAsync(endpoint)).ShouldBeEmpty();
        await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since })).ShouldBeProblemAsync(409, "endpoint_disabled");
        (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/enable", new { })).StatusCode.ShouldBe(HttpStatusCode.OK);

        var recoveryId = (await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since })).JsonAsync()).GetProperty("recovery").GetProperty("id").GetString()!;
        var (enqueued, finished) = await App.Service<EventRedeliveries>().ProcessBatchAsync(recoveryId, CancellationToken.None);
        enqueued.ShouldBe(EventRedeliveries.BatchSize);
        finished.ShouldBeFalse();
        var progress = await (await client.GetAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}")).JsonAsync();
        progress.GetProperty("total").GetInt32().ShouldBe(count);
        progress.GetProperty("enqueued").GetInt32().ShouldBe(EventRedeliveries.BatchSize);
        progress.GetProperty("status").GetString().ShouldBe("running");

        var cancelled = await client.DeleteAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}");
        ((int)cancelled.StatusCode).ShouldBe(200, await cancelled.Content.ReadAsStringAsync());
        (await cancelled.JsonAsync()).GetProperty("status").GetString().ShouldBe("cancelled");
        await RunRecoveryJobAsync();
        (await MessageKeysAsync(endpoint)).Count.ShouldBe(EventRedeliveries.BatchSize);
        await (await client.DeleteAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}")).ShouldBeProblemAsync(409, "recovery_finished");

        // The consumer acknowledged what the cancelled recovery sent: a new recovery sends the rest, and only the rest.
        await using (var c = await App.OpenAsync())
            await c.ExecuteAsync("update outbox_messages set status = 'sent', sent_at = @now where idempotency_key like @suffix",
                new { now = App.Time.GetUtcNow(), suffix = "%:recovery:" + recoveryId });
        var rest = await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since })).JsonAsync();
        rest.GetProperty("total").GetInt32().ShouldBe(20);
        await RunRecoveryJobAsync();
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<long>(
            "select count(distinct event_id) from event_redeliveries where endpoint_id = @endpoint", new { endpoint })).ShouldBe(count);
    }

    [Fact]
    public async Task An_endpoints_delivery_attempts_are_listed_for_its_owner_only()
    {
        var a = await App.CreateTenantAsync("admin");
        var b = await App.CreateTenantAsync("admin");
        var endpoint = (await CreateEndpointAsync(App.Client(a), "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var eventId = await PublishAsync(EventTypes.MeetingCreated, a.OrganizationId, new { id = "m1" });
        await using (var connection = await App.OpenAsync())
        {
            var messageId = await connection.QuerySingleAsync<string>("select id from outbox_messages where idempotency_key = @key",
                new { key = EventDelivery.IdempotencyKey(eventId, endpoint) });
            await App.Service<Db>().InTransactionAsync(async (c, t) =>
            {
                for (var i = 1; i <= 3; i++)
                    await EventAttempts.InsertAsync(c, t, new EventDeliveryAttempt(Ids.New(App.Time), eventId, endpoint, messageId, i, App.Time.GetUtcNow(), 12,
                        i < 3 ? 500 : 200, i < 3 ? "boom" : "ok", i < 3 ? "HTTP 500" : null, i < 3 ? EventAttemptOutcome.Failed : EventAttemptOutcome.Sent), App.Time.GetUtcNow());
            });
        }
        var client = App.Client(a);
        var first = await (await client.GetAsync($"/v1/event-endpoints/{endpoint}/attempts?limit=2")).JsonAsync();
        first.GetProperty("items").GetArrayLength().ShouldBe(2);
        var cursor = first.GetProperty("nextCursor").GetString()!;
        var second = await (await client.GetAsync($"/v1/event-endpoints/{endpoint}/attempts?limit=2&cursor={cursor}")).JsonAsync();
        second.GetProperty("items").GetArrayLength().ShouldBe(1);
        second.GetProperty("nextCursor").ValueKind.ShouldBe(JsonValueKind.Null);
        first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray())
            .Select(x => x.GetProperty("attempt").GetInt32()).Order().ShouldBe([1, 2, 3]);

        await (await App.Client(b).GetAsync($"/v1/event-endpoints/{endpoint}/attempts")).ShouldBeProblemAsync(404, "not_found");
        var detail = await (await client.GetAsync($"/v1/events/{eventId}")).JsonAsync();
        detail.GetProperty("attempts").GetArrayLength().ShouldBe(3);
        detail.GetProperty("attempts").EnumerateArray().ShouldAllBe(x => x.GetProperty("endpointId").GetString() == endpoint);
    }

    [Fact]
    public async Task Concurrent_rotations_never_lose_a_secret_they_handed_out()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var created = await CreateEndpointAsync(App.Client(tenant), "/v1/event-endpoints", new { url = Url() });
        var id = created.GetProperty("endpoint").GetProperty("id").GetString()!;
        var original = created.GetProperty("secret").GetString()!;

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => App.Client(tenant).PostJsonAsync($"/v1/event-endpoints/{id}/rotate-secret", new { }))));
        var issued = new List<string>();
        foreach (var r in responses)
        {
            if (r.StatusCode == HttpStatusCode.OK) issued.Add((await r.JsonAsync()).GetProperty("secret").GetString()!);
            else await r.ShouldBeProblemAsync(409, "concurrent_rotation");
        }
        issued.Count.ShouldBeGreaterThanOrEqualTo(1);
        issued.ShouldBeUnique();

        // Each successful rotation moved the secret it read to "previous": the stored pair is the last two of one
        // chain. Two rotations that both read the original (a lost update) would leave it as "previous" after more
        // than one success, and one of the handed-out secrets would never have been valid.
        var secrets = App.Service<EventSecrets>();
        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<(string Current, string Previous)>(
            "select secret_protected, previous_secret_protected from event_endpoints where id = @id", new { id });
        var current = secrets.Unprotect(row.Current);
        var previous = secrets.Unprotect(row.Previous);
        issued.ShouldContain(current);
        if (issued.Count == 1) previous.ShouldBe(original);
        else issued.ShouldContain(previous);
        (await connection.QueryAsync<string>("select action from audit_log where target_id = @id", new { id }))
            .Count(a => a == "event_endpoint.rotate_secret").ShouldBe(issued.Count);
    }

    [Fact]
    public async Task The_recovery_job_forgets_redeliveries_past_the_outbox_retention_and_old_finished_recoveries()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);
        var endpoint = (await CreateEndpointAsync(client, "/v1/event-endpoints", new { url = Url() })).GetProperty("endpoint").GetProperty("id").GetString()!;
        var since = App.Time.GetUtcNow();
        var eventId = await PublishAsync(EventTypes.MeetingCreated, tenant.OrganizationId, new { id = "m1" });
        (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/replay", new { eventId })).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var recoveryId = (await (await client.PostJsonAsync($"/v1/event-endpoints/{endpoint}/recover", new { since })).JsonAsync()).GetProperty("recovery").GetProperty("id").GetString()!;
        await RunRecoveryJobAsync();
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<long>("select count(*) from event_redeliveries where event_id = @eventId", new { eventId })).ShouldBe(2);

        App.Time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1));
        await RunRecoveryJobAsync();
        (await connection.QuerySingleAsync<long>("select count(*) from event_redeliveries where event_id = @eventId", new { eventId })).ShouldBe(2);

        App.Time.Advance(TimeSpan.FromMinutes(2));
        await RunRecoveryJobAsync();
        (await connection.QuerySingleAsync<long>("select count(*) from event_redeliveries where event_id = @eventId", new { eventId })).ShouldBe(0);
        (await client.GetAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        App.Time.Advance(TimeSpan.FromDays(EventRecoveryJob.FinishedRetentionDays - 7));
        await RunRecoveryJobAsync();
        await (await client.GetAsync($"/v1/event-endpoints/{endpoint}/recoveries/{recoveryId}")).ShouldBeProblemAsync(404, "not_found");
    }

    private string In(string parameter) =>
        App.Service<Db>().Dialect == Dialect.Postgres ? $"idempotency_key = any(@{parameter})" : $"idempotency_key in @{parameter}";

    private async Task RunRecoveryJobAsync()
    {
        using var scope = App.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<EventRecoveryJob>().RunAsync(CancellationToken.None);
    }
}

public sealed class EventsApiTestsOnSqlite(SqliteApp<EventsApiSetup> app) : EventsApiTests(app), IClassFixture<SqliteApp<EventsApiSetup>>;

public sealed class EventsApiTestsOnPostgres(PostgresApp<EventsApiSetup> app) : EventsApiTests(app), IClassFixture<PostgresApp<EventsApiSetup>>;
