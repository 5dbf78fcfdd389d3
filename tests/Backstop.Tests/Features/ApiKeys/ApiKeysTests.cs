using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Security;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Core;

namespace Backstop.Tests.Features.ApiKeys;

public abstract class ApiKeysTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_created_key_calls_me_and_sees_its_organization_and_scopes()
    {
        var org = await App.CreateOrganizationAsync("Acme " + Guid.NewGuid().ToString("N")[..6]);
        var created = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name = "ci", scopes = new[] { "read" } });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var json = await created.JsonAsync();
        var key = json.GetProperty("key").GetString()!;
        var prefix = json.GetProperty("prefix").GetString()!;
        key.ShouldStartWith("bsk_live_");
        key.Length.ShouldBe(KeyFormat.Length);
        key.ShouldStartWith(prefix + "_");
        json.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(["read"]);

        var me = await App.ClientWithKey(key).GetAsync("/v1/me");
        me.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await me.JsonAsync();
        body.GetProperty("organization").GetProperty("id").GetString().ShouldBe(org.Id);
        body.GetProperty("organization").GetProperty("slug").GetString().ShouldBe(org.Slug);
        body.GetProperty("organization").GetProperty("name").GetString().ShouldBe(org.Name);
        body.GetProperty("key").GetProperty("id").GetString().ShouldBe(json.GetProperty("id").GetString());
        body.GetProperty("key").GetProperty("prefix").GetString().ShouldBe(prefix);
        body.GetProperty("key").GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(["read"]);
    }

    [Fact]
    public async Task Only_a_hash_of_the_key_is_stored_and_the_key_is_never_listed_again()
    {
        var tenant = await App.CreateTenantAsync();
        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<(string KeyHash, string Prefix)>(
            "select key_hash, prefix from api_keys where id = @Id", new { tenant.ApiKey.Id });
        row.KeyHash.ShouldBe(Secrets.Hash(tenant.Key));
        var dump = string.Join("|", (await connection.QueryAsync("select * from api_keys where id = @Id", new { tenant.ApiKey.Id }))
            .SelectMany(r => ((IDictionary<string, object?>)r).Values.Select(v => v?.ToString())));
        dump.ShouldNotContain(tenant.Key);
        dump.ShouldNotContain(tenant.Key[(tenant.ApiKey.Prefix.Length + 1)..]); // nor the secret part alone

        var list = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys")).Content.ReadAsStringAsync();
        list.ShouldContain(tenant.ApiKey.Prefix);
        list.ShouldNotContain(tenant.Key);
    }

    [Fact]
    public async Task A_revoked_key_answers_401_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var revoke = await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}");
        revoke.StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
        // Revoking again is harmless.
        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task An_expired_key_answers_401()
    {
        var org = await App.CreateOrganizationAsync();
        var expiresAt = App.Time.GetUtcNow().AddHours(1);
        var created = await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name = "short", expiresAt })).JsonAsync();
        created.GetProperty("expiresAt").GetDateTimeOffset().ShouldBe(expiresAt);
        var client = App.ClientWithKey(created.GetProperty("key").GetString()!);

        (await client.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(TimeSpan.FromHours(1));
        await (await client.GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_expired");
    }

    [Fact]
    public async Task An_expiry_in_the_past_is_refused()
    {
        var org = await App.CreateOrganizationAsync();
        var response = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys",
            new { name = "old", expiresAt = App.Time.GetUtcNow().AddMinutes(-1) });
        await response.ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task A_rotated_key_works_during_the_overlap_and_answers_401_after_it()
    {
        var tenant = await App.CreateTenantAsync();
        var rotated = await App.AdminClient().PostAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}/rotate", null);
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created);
        var fresh = await rotated.JsonAsync();
        var newKey = fresh.GetProperty("key").GetString()!;
        newKey.ShouldNotBe(tenant.Key);
        fresh.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(tenant.ApiKey.Scopes);

        App.Time.Advance(TimeSpan.FromHours(23));
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.ClientWithKey(newKey).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        App.Time.Advance(TimeSpan.FromHours(1));
        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_expired");
        (await App.ClientWithKey(newKey).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var again = await App.AdminClient().PostAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}/rotate", null);
        await again.ShouldBeProblemAsync(409, "api_key_already_rotated");
    }

    [Fact]
    public async Task Concurrent_rotations_of_one_key_make_exactly_one_replacement()
    {
        var tenant = await App.CreateTenantAsync();
        var client = App.AdminClient();
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() =>
            client.PostAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}/rotate", null))));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(19);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from api_keys where organization_id = @OrganizationId", new { tenant.OrganizationId })).ShouldBe(2);
    }

    [Fact]
    public async Task A_key_with_a_typo_fails_the_checksum_and_answers_401()
    {
        var tenant = await App.CreateTenantAsync();
        var typo = MistypeSecret(tenant.Key);
        KeyFormat.TryParse(typo).ShouldBeNull();
        await (await App.ClientWithKey(typo).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        await (await App.ClientWithKey(tenant.Key[..^1]).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
    }

    [Fact]
    public async Task A_well_formed_key_that_was_never_issued_answers_401()
    {
        var (key, _) = KeyFormat.Generate();
        await (await App.ClientWithKey(key).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
    }

    [Fact]
    public async Task A_read_key_gets_403_insufficient_scope_on_a_write()
    {
        var tenant = await App.CreateTenantAsync("read");
        var response = await App.Client(tenant).PostJsonAsync("/v1/api-keys", new { name = "escalate", scopes = new[] { "admin" } });
        await response.ShouldBeProblemAsync(403, "insufficient_scope");
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var writer = await App.CreateApiKeyAsync(tenant.OrganizationId, "read", "write");
        await (await App.ClientWithKey(writer.Key).GetAsync("/v1/api-keys")).ShouldBeProblemAsync(403, "insufficient_scope");
        await (await App.ClientWithKey(writer.Key).GetAsync("/v1/admin/organizations")).ShouldBeProblemAsync(403, "forbidden");
    }

    [Fact]
    public async Task An_admin_key_manages_its_own_organizations_keys()
    {
        var tenant = await App.CreateTenantAsync("admin");
        var client = App.Client(tenant);

        var created = await client.PostJsonAsync("/v1/api-keys", new { name = "worker", scopes = new[] { "read" } });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        var worker = await created.JsonAsync();
        var workerId = worker.GetProperty("id").GetString()!;
        var workerKey = worker.GetProperty("key").GetString()!;
        (await App.ClientWithKey(workerKey).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var list = await (await client.GetAsync("/v1/api-keys")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(k => k.GetProperty("id").GetString()).ShouldBe([workerId, tenant.ApiKey.Id], ignoreOrder: true);

        var rotated = await client.PostAsync($"/v1/api-keys/{workerId}/rotate?overlapMinutes=0", null);
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created);
        var newWorkerKey = (await rotated.JsonAsync()).GetProperty("key").GetString()!;
        await (await App.ClientWithKey(workerKey).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_expired");
        (await App.ClientWithKey(newWorkerKey).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var newWorkerId = (await (await client.GetAsync("/v1/api-keys")).JsonAsync()).GetProperty("items").EnumerateArray()
            .Select(k => k.GetProperty("id").GetString()!).Single(id => id != workerId && id != tenant.ApiKey.Id);
        (await client.DeleteAsync($"/v1/api-keys/{newWorkerId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await App.ClientWithKey(newWorkerKey).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
    }

    [Fact]
    public async Task Another_organizations_key_is_404_never_403_and_never_shown()
    {
        var mine = await App.CreateTenantAsync("admin");
        var theirs = await App.CreateTenantAsync("admin");
        var client = App.Client(mine);

        await (await client.DeleteAsync($"/v1/api-keys/{theirs.ApiKey.Id}")).ShouldBeProblemAsync(404, "not_found");
        await (await client.PostAsync($"/v1/api-keys/{theirs.ApiKey.Id}/rotate", null)).ShouldBeProblemAsync(404, "not_found");
        var list = await (await client.GetAsync("/v1/api-keys")).Content.ReadAsStringAsync();
        list.ShouldNotContain(theirs.ApiKey.Id);
        list.ShouldNotContain(theirs.ApiKey.Prefix);
        // The admin API checks the key belongs to the organization in the path too.
        await (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{mine.OrganizationId}/api-keys/{theirs.ApiKey.Id}")).ShouldBeProblemAsync(404, "not_found");

        (await App.Client(theirs).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // An organization id smuggled into the body is ignored: the key lands in the caller's organization.
        var smuggled = await (await client.PostJsonAsync("/v1/api-keys", new { name = "smuggled", orgId = theirs.OrganizationId })).JsonAsync();
        var me = await (await App.ClientWithKey(smuggled.GetProperty("key").GetString()!).GetAsync("/v1/me")).JsonAsync();
        me.GetProperty("organization").GetProperty("id").GetString().ShouldBe(mine.OrganizationId);
    }

    [Fact]
    public async Task Last_use_is_written_at_most_once_a_minute()
    {
        var tenant = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        await using var connection = await App.OpenAsync();
        async Task<DateTimeOffset?> LastUsed() => (await connection.QuerySingleAsync<KeyUse>(
            "select last_used_at from api_keys where id = @Id", new { tenant.ApiKey.Id })).LastUsedAt;

        (await LastUsed()).ShouldBeNull();
        var first = App.Time.GetUtcNow();
        await client.GetAsync("/v1/me");
        (await LastUsed()).ShouldBe(first);

        App.Time.Advance(TimeSpan.FromSeconds(59));
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => client.GetAsync("/v1/me")));
        (await LastUsed()).ShouldBe(first);

        App.Time.Advance(TimeSpan.FromSeconds(2));
        await client.GetAsync("/v1/me");
        (await LastUsed()).ShouldBe(first.AddSeconds(61));
    }

    [Fact]
    public async Task The_admin_key_is_not_a_tenant()
    {
        await (await App.AdminClient().GetAsync("/v1/me")).ShouldBeProblemAsync(403, "organization_key_required");
    }

    [Fact]
    public async Task Creating_a_key_for_an_unknown_organization_is_404_and_bad_scopes_are_400()
    {
        await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations/nope/api-keys", new { name = "x" })).ShouldBeProblemAsync(404, "not_found");
        var org = await App.CreateOrganizationAsync();
        var bad = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name = "x", scopes = new[] { "root" } });
        await bad.ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task The_key_never_appears_in_any_log_event()
    {
        var capture = App.Services.GetServices<ILogEventSink>().OfType<LogCapture>().SingleOrDefault();
        capture.ShouldNotBeNull("the factory registers a LogCapture sink");

        var tenant = await App.CreateTenantAsync("admin");
        var ip = TestClientIpStartupFilter.RandomAddress();
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var other = await (await App.Client(tenant).PostJsonAsync("/v1/api-keys", new { name = "logged?" })).JsonAsync();
        var otherKey = other.GetProperty("key").GetString()!;
        await App.Client(tenant).PostAsync($"/v1/api-keys/{other.GetProperty("id").GetString()}/rotate", null);
        // Enough failures to lock the pair out, so the security warning is written too.
        var typo = MistypeSecret(tenant.Key);
        for (var i = 0; i < 11; i++) await App.ClientWithKey(typo, ip).GetAsync("/v1/me");
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        var rendered = capture.Rendered();
        rendered.ShouldContain(e => e.Contains(tenant.ApiKey.Prefix), "the lockout warning names the prefix");
        foreach (var secret in new[] { tenant.Key, typo, otherKey, tenant.Key[(tenant.ApiKey.Prefix.Length + 1)..] })
            rendered.ShouldAllBe(e => !e.Contains(secret));
    }

    /// <summary>The key with one character of its secret part changed.</summary>
    public static string MistypeSecret(string key)
    {
        var i = KeyFormat.TypePrefix.Length + KeyFormat.LookupIdLength + 3;
        return key[..i] + (key[i] == 'a' ? 'b' : 'a') + key[(i + 1)..];
    }

    private sealed record KeyUse
    {
        public DateTimeOffset? LastUsedAt { get; init; }
    }
}

public sealed class ApiKeysTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => settings["Serilog:MinimumLevel:Default"] = "Information";
    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();
}

public sealed class ApiKeysTestsOnSqlite(SqliteApp<ApiKeysTestsSetup> app) : ApiKeysTests(app), IClassFixture<SqliteApp<ApiKeysTestsSetup>>;

public sealed class ApiKeysTestsOnPostgres(PostgresApp<ApiKeysTestsSetup> app) : ApiKeysTests(app), IClassFixture<PostgresApp<ApiKeysTestsSetup>>;
