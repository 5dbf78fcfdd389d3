using Backstop.Infrastructure.Events;

namespace Backstop.Tests.Infrastructure.Events;

/// <summary>ApiKeys' events: each change through the admin and tenant API writes exactly one event of its organization.</summary>
public abstract class EmitApiKeysTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Organization_and_key_changes_each_write_one_event_with_the_public_representation_and_never_the_key()
    {
        var org = await App.CreateOrganizationAsync("Emit " + Guid.NewGuid().ToString("N")[..6]);
        var created = await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name = "ci", scopes = new[] { "read", "write" } })).JsonAsync();
        var keyId = created.GetProperty("id").GetString()!;
        var key = created.GetProperty("key").GetString()!;
        var prefix = created.GetProperty("prefix").GetString()!;

        var rotated = await App.AdminClient().PostAsync($"/v1/admin/organizations/{org.Id}/api-keys/{keyId}/rotate", null);
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created);
        var replacement = (await rotated.JsonAsync()).GetProperty("id").GetString()!;
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org.Id}/api-keys/{replacement}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        // Revoking again changes nothing: no second event.
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org.Id}/api-keys/{replacement}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{org.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var events = await App.EventsAsync(org.Id);
        events.Select(e => e.Type).ShouldBe([EventTypes.OrganizationCreated, EventTypes.ApiKeyCreated, EventTypes.ApiKeyRotated, EventTypes.ApiKeyRevoked,
            EventTypes.OrganizationDeleted]);
        events.Select(e => e.Sequence).ShouldBe([1L, 2, 3, 4, 5]);
        events.ShouldAllBe(e => e.OrganizationId == org.Id);

        events[0].Data.GetProperty("id").GetString().ShouldBe(org.Id);
        events[0].Data.GetProperty("slug").GetString().ShouldBe(org.Slug);
        events[0].Data.GetProperty("name").GetString().ShouldBe(org.Name);

        var keyCreated = events[1].Data;
        keyCreated.GetProperty("id").GetString().ShouldBe(keyId);
        keyCreated.GetProperty("prefix").GetString().ShouldBe(prefix);
        keyCreated.GetProperty("name").GetString().ShouldBe("ci");
        keyCreated.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(["read", "write"]);
        keyCreated.GetProperty("status").GetString().ShouldBe("active");
        keyCreated.TryGetProperty("key", out _).ShouldBeFalse();
        foreach (var e in events)
        {
            e.Data.GetRawText().ShouldNotContain(key);
            e.Data.GetRawText().ShouldNotContain(key[(prefix.Length + 1)..]);
            e.Data.GetRawText().ShouldNotContain("hash", Case.Insensitive);
        }

        events[2].Data.GetProperty("id").GetString().ShouldBe(keyId);
        events[2].Data.GetProperty("replacedById").GetString().ShouldBe(replacement);
        events[3].Data.GetProperty("id").GetString().ShouldBe(replacement);
        events[3].Data.GetProperty("status").GetString().ShouldBe("revoked");
        events[4].Data.GetProperty("id").GetString().ShouldBe(org.Id);
        events[4].Data.GetProperty("deletedAt").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow());
    }

    [Fact]
    public async Task A_refused_change_writes_no_event()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var before = await App.EventsAsync(tenant.OrganizationId);
        before.Select(e => e.Type).ShouldBe([EventTypes.OrganizationCreated, EventTypes.ApiKeyCreated]);

        // The rotation inserts the replacement key, then finds the old one already rotated: 409, all of it rolled back.
        var first = await App.Client(tenant).PostAsync($"/v1/api-keys/{tenant.ApiKey.Id}/rotate", null);
        first.StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await App.AdminClient().PostAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}/rotate", null))
            .ShouldBeProblemAsync(409, "api_key_already_rotated");
        // A slug that is taken: 409, no organization and no event.
        var org = await App.CreateOrganizationAsync();
        await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = "Twin", slug = org.Slug })).ShouldBeProblemAsync(409, "slug_taken");

        var after = await App.EventsAsync(tenant.OrganizationId);
        after.Select(e => e.Type).ShouldBe([EventTypes.OrganizationCreated, EventTypes.ApiKeyCreated, EventTypes.ApiKeyRotated]);
        after.Select(e => e.Sequence).ShouldBe([1L, 2, 3]);
        await using var connection = await App.OpenAsync();
        (await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "select count(*) from events where type = @type and data like @slug",
            new { type = EventTypes.OrganizationCreated, slug = $"%\"slug\":\"{org.Slug}\"%" })).ShouldBe(1);
    }

    [Fact]
    public async Task Two_organizations_events_carry_their_own_organization_and_consecutive_sequences()
    {
        var a = await App.CreateTenantAsync("admin");
        var b = await App.CreateTenantAsync("admin");
        for (var i = 0; i < 3; i++)
        {
            (await App.Client(a).PostJsonAsync("/v1/api-keys", new { name = "a" + i })).StatusCode.ShouldBe(HttpStatusCode.Created);
            (await App.Client(b).PostJsonAsync("/v1/api-keys", new { name = "b" + i })).StatusCode.ShouldBe(HttpStatusCode.Created);
        }

        foreach (var (tenant, name) in new[] { (a, "a"), (b, "b") })
        {
            var events = await App.EventsAsync(tenant.OrganizationId);
            events.Count.ShouldBe(5);
            events.ShouldAllBe(e => e.OrganizationId == tenant.OrganizationId);
            events.Select(e => e.Sequence).ShouldBe([1L, 2, 3, 4, 5]);
            events.Skip(2).Select(e => e.Data.GetProperty("name").GetString()).ShouldBe([name + "0", name + "1", name + "2"]);
        }
    }
}

public sealed class EmitApiKeysTestsOnSqlite(SqliteApp<DefaultSetup> app) : EmitApiKeysTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class EmitApiKeysTestsOnPostgres(PostgresApp<DefaultSetup> app) : EmitApiKeysTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
