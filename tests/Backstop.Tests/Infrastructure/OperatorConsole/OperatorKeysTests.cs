namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary><c>/v1/admin/operator-keys</c>: created by the admin key only, shown once, stored hashed, listed, revoked.</summary>
public abstract class OperatorKeysTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task An_operator_key_is_shown_once_stored_hashed_listed_and_revoked_with_audit_rows()
    {
        var created = await App.CreateOperatorKeyAsync("read_only");
        created.Key.ShouldStartWith("bso_");
        created.Role.ShouldBe("read_only");

        await using (var connection = await App.OpenAsync())
        {
            var stored = await connection.QuerySingleAsync<string>("select key_hash from operator_keys where id = @Id", new { created.Id });
            stored.ShouldNotContain(created.Key);
            stored.ShouldBe(Backstop.Infrastructure.Security.Secrets.Hash(created.Key));
        }

        var list = await (await App.AdminClient().GetAsync("/v1/admin/operator-keys?limit=100")).JsonAsync();
        var listed = list.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("id").GetString() == created.Id);
        listed.GetProperty("name").GetString().ShouldBe(created.Name);
        listed.TryGetProperty("key", out _).ShouldBeFalse();
        (await App.AdminClient().GetStringAsync("/v1/admin/operator-keys?limit=100")).ShouldNotContain(created.Key);

        (await App.AdminClient().DeleteAsync($"/v1/admin/operator-keys/{created.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await App.AdminClient().DeleteAsync($"/v1/admin/operator-keys/{created.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await App.AdminClient().DeleteAsync($"/v1/admin/operator-keys/{Guid.CreateVersion7()}")).ShouldBeProblemAsync(404, "not_found");

        await using var check = await App.OpenAsync();
        var actions = (await check.QueryAsync<(string Action, string Actor)>(
            "select action, actor from audit_log where target_id = @Id order by id", new { created.Id })).ToList();
        actions.ShouldBe([("operator_key.create", "admin"), ("operator_key.revoke", "admin")], ignoreOrder: true);
        // A revoked key no longer signs in.
        var response = await ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress()).TrySignInAsync(created.Key);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Only_the_admin_key_manages_operator_keys_and_bad_input_changes_nothing()
    {
        var tenant = await App.CreateTenantAsync("read", "write", "admin");
        (await App.ClientWithKey(tenant.Key).PostJsonAsync("/v1/admin/operator-keys", new { name = "x", role = "admin" })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await App.CreateClient().GetAsync("/v1/admin/operator-keys")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var name = "bad-" + Guid.NewGuid().ToString("N")[..8];
        await (await App.AdminClient().PostJsonAsync("/v1/admin/operator-keys", new { name, role = "owner" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await App.AdminClient().PostJsonAsync("/v1/admin/operator-keys", new { name = "admin", role = "admin" })).ShouldBeProblemAsync(400, "validation_failed");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from operator_keys where name = @name", new { name })).ShouldBe(0);
    }

    [Fact]
    public async Task Of_twenty_concurrent_creations_of_one_name_exactly_one_succeeds()
    {
        var name = "race-" + Guid.NewGuid().ToString("N")[..8];
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() =>
            App.AdminClient().PostJsonAsync("/v1/admin/operator-keys", new { name, role = "admin" }))));
        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await refused.ShouldBeProblemAsync(409, "operator_key_name_taken");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from operator_keys where name = @name", new { name })).ShouldBe(1);
    }
}

public sealed class OperatorKeysTestsOnSqlite(SqliteApp<DefaultSetup> app) : OperatorKeysTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OperatorKeysTestsOnPostgres(PostgresApp<DefaultSetup> app) : OperatorKeysTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
