using Backstop.Features.ApiKeys;

namespace Backstop.Tests.Features.ApiKeys;

/// <summary>
/// Verified keys and "not locked" answers are remembered for ApiKeys:CacheSeconds (5 s by default): changes made
/// through this instance apply at once, changes made elsewhere within that interval.
/// </summary>
public abstract class KeyCacheTests(BackstopFactory app) : AppTest(app)
{
    private static readonly TimeSpan CacheSeconds = TimeSpan.FromSeconds(5);

    private HttpClient SiblingClient(SiblingFactory sibling, string key, string ip)
    {
        var client = sibling.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        TestClientIpStartupFilter.SetAddress(client, ip);
        return client;
    }

    [Fact]
    public async Task A_revoked_key_is_refused_on_the_next_request_on_the_same_instance()
    {
        var tenant = await App.CreateTenantAsync();
        var other = await App.CreateApiKeyAsync(tenant.OrganizationId);
        for (var i = 0; i < 3; i++) (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.ClientWithKey(other.Key).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}"))
            .StatusCode.ShouldBe(HttpStatusCode.NoContent);

        // No time passes: the cached verification of the key must be gone, not merely expire.
        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
        (await App.ClientWithKey(other.Key).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_mistyped_or_forged_copy_of_a_cached_key_is_refused_and_the_key_still_works()
    {
        // The cache is found by the key's lookup id, and trusted only for the right secret: a typo of the secret is
        // caught by the checksum (never reaching the database), and a token with a correct checksum but another
        // secret for the same lookup id is looked up and refused like any guess.
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        var mistyped = await (await App.ClientWithKey(typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        mistyped.GetProperty("detail").GetString().ShouldNotBeNull().ShouldContain("mistyped");

        var body = tenant.Key[..(KeyFormat.TypePrefix.Length + KeyFormat.LookupIdLength + 1)] + new string('Z', KeyFormat.SecretLength);
        var forged = body + KeyFormat.Checksum(body);
        KeyFormat.TryParse(forged).ShouldNotBeNull().LookupId.ShouldBe(KeyFormat.TryParse(tenant.Key)!.LookupId);
        var refused = await (await App.ClientWithKey(forged, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        refused.GetProperty("detail").GetString().ShouldNotBeNull().ShouldNotContain("mistyped");

        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using var connection = await App.OpenAsync();
        // Both were counted as guesses of this key from this address.
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failure_events where scope = 'pair' and ip = @ip and prefix = @prefix",
            new { ip, prefix = tenant.ApiKey.Prefix })).ShouldBe(2);
    }

    [Fact]
    public async Task A_key_revoked_through_its_own_organization_is_refused_at_once()
    {
        var tenant = await App.CreateTenantAsync("read", "write", "admin");
        var victim = await App.CreateApiKeyAsync(tenant.OrganizationId);
        (await App.ClientWithKey(victim.Key).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.Client(tenant).DeleteAsync($"/v1/api-keys/{victim.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await App.ClientWithKey(victim.Key).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
    }

    [Fact]
    public async Task A_rotation_without_overlap_refuses_the_cached_old_key_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var rotated = await App.AdminClient().PostAsync(
            $"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}/rotate?overlapMinutes=0", null);
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created);
        var newKey = (await rotated.JsonAsync()).GetProperty("key").GetString()!;

        // The cached entry had no expiry; the rotation set it to now.
        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_expired");
        (await App.ClientWithKey(newKey).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Deleting_the_organization_refuses_its_cached_keys_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).IsSuccessStatusCode.ShouldBeTrue();

        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
    }

    private static async Task<string> MeOrganizationNameAsync(HttpClient client)
    {
        var response = await client.GetAsync("/v1/me");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return (await response.JsonAsync()).GetProperty("organization").GetProperty("name").GetString()!;
    }

    private async Task RenameAsync(string organizationId, string name) =>
        (await App.AdminClient().PatchAsync($"/v1/admin/organizations/{organizationId}",
            System.Net.Http.Json.JsonContent.Create(new { name }))).StatusCode.ShouldBe(HttpStatusCode.OK);

    [Fact]
    public async Task Renaming_the_organization_is_answered_by_the_next_me_on_the_same_instance()
    {
        var tenant = await App.CreateTenantAsync();
        var other = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        (await MeOrganizationNameAsync(client)).ShouldBe(tenant.Organization.Name);
        (await MeOrganizationNameAsync(App.Client(other))).ShouldBe(other.Organization.Name);

        await RenameAsync(tenant.OrganizationId, "Renamed " + tenant.OrganizationId);

        // No time passes: the cached organization of the key is forgotten by the rename, not merely aged out.
        (await MeOrganizationNameAsync(client)).ShouldBe("Renamed " + tenant.OrganizationId);
        (await MeOrganizationNameAsync(App.Client(other))).ShouldBe(other.Organization.Name);
    }

    [Fact]
    public async Task Me_answers_the_organization_read_with_the_key_until_CacheSeconds_have_passed()
    {
        // What another instance's rename looks like from here: the row changes, this instance is not told.
        var tenant = await App.CreateTenantAsync();
        var client = App.Client(tenant);
        (await MeOrganizationNameAsync(client)).ShouldBe(tenant.Organization.Name);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update organizations set name = 'Changed elsewhere' where id = @OrganizationId", new { tenant.OrganizationId });

        App.Time.Advance(CacheSeconds - TimeSpan.FromMilliseconds(1));
        (await MeOrganizationNameAsync(client)).ShouldBe(tenant.Organization.Name);

        App.Time.Advance(TimeSpan.FromMilliseconds(1));
        (await MeOrganizationNameAsync(client)).ShouldBe("Changed elsewhere");
    }

    [Fact]
    public async Task A_rename_through_another_instance_is_answered_here_within_CacheSeconds()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        await using var sibling = new SiblingFactory(App);
        (await MeOrganizationNameAsync(SiblingClient(sibling, tenant.Key, ip))).ShouldBe(tenant.Organization.Name);

        await RenameAsync(tenant.OrganizationId, "Renamed elsewhere");
        (await MeOrganizationNameAsync(App.ClientWithKey(tenant.Key, ip))).ShouldBe("Renamed elsewhere");

        App.Time.Advance(CacheSeconds);
        (await MeOrganizationNameAsync(SiblingClient(sibling, tenant.Key, ip))).ShouldBe("Renamed elsewhere");
    }

    [Fact]
    public async Task A_cached_key_still_expires_exactly_at_its_expiry()
    {
        var org = await App.CreateOrganizationAsync();
        var expiresAt = App.Time.GetUtcNow().AddSeconds(3);
        var created = await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name = "short", expiresAt })).JsonAsync();
        var client = App.ClientWithKey(created.GetProperty("key").GetString()!);
        (await client.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        App.Time.Advance(TimeSpan.FromSeconds(3));

        await (await client.GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_expired");
    }

    [Fact]
    public async Task A_key_revoked_on_one_instance_is_refused_on_another_within_CacheSeconds()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        await using var sibling = new SiblingFactory(App);
        (await SiblingClient(sibling, tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys/{tenant.ApiKey.Id}"))
            .StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");

        App.Time.Advance(CacheSeconds);
        await (await SiblingClient(sibling, tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
    }

    [Fact]
    public async Task A_verified_key_is_answered_from_memory_until_CacheSeconds_have_passed()
    {
        // What another instance's revocation looks like from here: the row changes, this instance is not told.
        var tenant = await App.CreateTenantAsync();
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update api_keys set revoked_at = @now where id = @Id", new { now = App.Time.GetUtcNow(), tenant.ApiKey.Id });

        App.Time.Advance(CacheSeconds - TimeSpan.FromMilliseconds(1));
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        App.Time.Advance(TimeSpan.FromMilliseconds(1));
        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
    }

    [Fact]
    public async Task A_lock_set_through_another_instance_is_enforced_here_within_CacheSeconds()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        await using var sibling = new SiblingFactory(App);
        // This instance remembers "not locked" for the pair.
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        for (var i = 0; i < 10; i++) await (await SiblingClient(sibling, typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        await (await SiblingClient(sibling, tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");

        App.Time.Advance(CacheSeconds);
        var here = await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me");
        await here.ShouldBeProblemAsync(429, "api_key_locked_out");
        here.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromMinutes(15) - CacheSeconds);
    }

    [Fact]
    public async Task A_failure_on_this_instance_ends_the_remembered_no_lock_of_its_address_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        var typo = ApiKeysTests.MistypeSecret(tenant.Key);
        await using var sibling = new SiblingFactory(App);
        (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Nine failures elsewhere, the tenth here: the lock starts with it and the valid key is refused at once.
        for (var i = 0; i < 9; i++) await (await SiblingClient(sibling, typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");
        await (await App.ClientWithKey(typo, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "invalid_api_key");

        await (await App.ClientWithKey(tenant.Key, ip).GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }

    [Fact]
    public async Task Concurrent_requests_with_a_valid_key_beside_a_failing_burst_never_see_more_than_the_limit_of_401s()
    {
        // A valid key keeps the address's "not locked" warm while 30 guesses run; the guesses are still decided by
        // the database: exactly 10 learn "invalid", the rest are 429.
        var tenant = await App.CreateTenantAsync();
        var ip = TestClientIpStartupFilter.RandomAddress();
        var valid = App.ClientWithKey(tenant.Key, ip);
        var guess = App.ClientWithKey(ApiKeysTests.MistypeSecret(tenant.Key), ip);
        (await valid.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var guesses = Enumerable.Range(0, 30).Select(_ => Task.Run(() => guess.GetAsync("/v1/me"))).ToList();
        var uses = Enumerable.Range(0, 30).Select(_ => Task.Run(() => valid.GetAsync("/v1/me"))).ToList();
        var answers = await Task.WhenAll(guesses);
        await Task.WhenAll(uses);

        answers.Count(r => r.StatusCode == HttpStatusCode.Unauthorized).ShouldBe(10);
        answers.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests).ShouldBe(20);
        await (await valid.GetAsync("/v1/me")).ShouldBeProblemAsync(429, "api_key_locked_out");
    }
}

public sealed class KeyCacheTestsOnSqlite(SqliteApp<DefaultSetup> app) : KeyCacheTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class KeyCacheTestsOnPostgres(PostgresApp<DefaultSetup> app) : KeyCacheTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
