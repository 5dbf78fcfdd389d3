using System.Net.Http.Json;

namespace Backstop.Tests.Features.ApiKeys;

public abstract class OrganizationsTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task An_organization_is_created_with_a_derived_or_given_slug_and_read_back()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var derived = await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = $"Acme Corp {suffix}!" });
        derived.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await derived.JsonAsync();
        body.GetProperty("slug").GetString().ShouldBe($"acme-corp-{suffix}");
        body.GetProperty("name").GetString().ShouldBe($"Acme Corp {suffix}!");
        body.TryGetProperty("createdAt", out _).ShouldBeTrue();

        var given = await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = "x", slug = $"given-{suffix}" })).JsonAsync();
        given.GetProperty("slug").GetString().ShouldBe($"given-{suffix}");

        var read = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{body.GetProperty("id").GetString()}")).JsonAsync();
        read.GetProperty("slug").GetString().ShouldBe($"acme-corp-{suffix}");
    }

    [Theory]
    [InlineData("Acme\u0000Corp")]
    [InlineData("Acme\u001b[31mCorp")]
    [InlineData("Acme\nCorp")]
    public async Task A_name_with_control_characters_is_refused_and_nothing_changes(string name)
    {
        var admin = App.AdminClient();
        var marker = Guid.NewGuid().ToString("N");
        await (await admin.PostJsonAsync("/v1/admin/organizations", new { name, slug = "ctl-" + marker[..12] })).ShouldBeProblemAsync(400, "validation_failed");
        (await admin.GetAsync($"/v1/admin/organizations")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var org = await App.CreateOrganizationAsync();
        await (await admin.PatchAsJsonAsync($"/v1/admin/organizations/{org.Id}", new { name })).ShouldBeProblemAsync(400, "validation_failed");
        (await (await admin.GetAsync($"/v1/admin/organizations/{org.Id}")).JsonAsync()).GetProperty("name").GetString().ShouldBe(org.Name);
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{org.Id}/members", new { email = $"{marker}@example.com", displayName = name, role = "member" }))
            .ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{org.Id}/api-keys", new { name })).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task A_taken_slug_is_409_and_a_malformed_one_is_400()
    {
        var org = await App.CreateOrganizationAsync();
        await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = "y", slug = org.Slug })).ShouldBeProblemAsync(409, "slug_taken");
        await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = "y", slug = "Not A Slug" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await App.AdminClient().PostJsonAsync("/v1/admin/organizations", new { name = "" })).ShouldBeProblemAsync(400, "validation_failed");
        // Same name twice: the derived slug gets a suffix.
        var again = await App.CreateOrganizationAsync(org.Name);
        again.Slug.ShouldStartWith(org.Slug + "-");
    }

    [Fact]
    public async Task Twenty_concurrent_creations_with_one_slug_make_one_organization()
    {
        var slug = "race-" + Guid.NewGuid().ToString("N")[..8];
        var client = App.AdminClient();
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            client.PostJsonAsync("/v1/admin/organizations", new { name = "Race " + i, slug }))));
        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(19);
    }

    [Fact]
    public async Task Organizations_are_listed_newest_first_page_by_page()
    {
        var created = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await App.CreateOrganizationAsync()).Id);
            App.Time.Advance(TimeSpan.FromMilliseconds(1)); // UUIDv7 ids order by millisecond; within one, randomly
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await App.AdminClient().GetAsync("/v1/admin/organizations?limit=2" + (cursor is null ? "" : "&cursor=" + cursor))).JsonAsync();
            var items = page.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("id").GetString()!).ToList();
            items.Count.ShouldBeLessThanOrEqualTo(2);
            seen.AddRange(items);
            cursor = page.GetProperty("nextCursor").GetString();
        } while (cursor is not null);

        var mine = seen.Where(created.Contains).ToList();
        mine.ShouldBe(Enumerable.Reverse(created).ToList());
        seen.Distinct().Count().ShouldBe(seen.Count);
        await (await App.AdminClient().GetAsync("/v1/admin/organizations?limit=101")).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task An_organization_is_renamed()
    {
        var org = await App.CreateOrganizationAsync();
        var renamed = await App.AdminClient().PatchAsync($"/v1/admin/organizations/{org.Id}",
            System.Net.Http.Json.JsonContent.Create(new { name = "New name" }));
        renamed.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await renamed.JsonAsync();
        body.GetProperty("name").GetString().ShouldBe("New name");
        body.GetProperty("slug").GetString().ShouldBe(org.Slug);
    }

    [Fact]
    public async Task A_deleted_organization_is_gone_and_its_keys_stop_working_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await App.Client(tenant).GetAsync("/v1/me")).ShouldBeProblemAsync(401, "api_key_revoked");
        // Still readable by the operator, with the deletion's progress (nothing of its data remains here).
        var deleted = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).JsonAsync();
        deleted.GetProperty("deletedAt").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.String);
        deleted.GetProperty("deletion").GetProperty("complete").GetBoolean().ShouldBeTrue();
        await (await App.AdminClient().DeleteAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).ShouldBeProblemAsync(404, "not_found");
        await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{tenant.OrganizationId}/api-keys", new { name = "late" })).ShouldBeProblemAsync(404, "not_found");
        var list = await (await App.AdminClient().GetAsync("/v1/admin/organizations?limit=100")).Content.ReadAsStringAsync();
        list.ShouldNotContain(tenant.OrganizationId);
        // Its slug is free again.
        (await App.CreateOrganizationAsync(slug: tenant.Organization.Slug)).Slug.ShouldBe(tenant.Organization.Slug);
    }

    [Fact]
    public async Task Members_are_added_listed_and_removed()
    {
        var org = await App.CreateOrganizationAsync();
        var url = $"/v1/admin/organizations/{org.Id}/members";
        var added = await App.AdminClient().PostJsonAsync(url, new { externalUserId = "user_1", email = "a@example.com", role = "owner" });
        added.StatusCode.ShouldBe(HttpStatusCode.Created);
        var member = await added.JsonAsync();
        member.GetProperty("externalUserId").GetString().ShouldBe("user_1");
        member.GetProperty("role").GetString().ShouldBe("owner");
        (await App.AdminClient().PostJsonAsync(url, new { email = "b@example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);

        await (await App.AdminClient().PostJsonAsync(url, new { externalUserId = "user_1", role = "member" })).ShouldBeProblemAsync(409, "member_exists");
        await (await App.AdminClient().PostJsonAsync(url, new { externalUserId = "user_2", role = "king" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await App.AdminClient().PostJsonAsync(url, new { role = "member" })).ShouldBeProblemAsync(400, "validation_failed");

        var list = await (await App.AdminClient().GetAsync(url)).JsonAsync();
        list.GetProperty("items").GetArrayLength().ShouldBe(2);

        var memberId = member.GetProperty("id").GetString();
        (await App.AdminClient().DeleteAsync($"{url}/{memberId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await App.AdminClient().DeleteAsync($"{url}/{memberId}")).ShouldBeProblemAsync(404, "not_found");
        (await (await App.AdminClient().GetAsync(url)).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(1);

        // Another organization's member id through this organization's path is 404.
        var other = await App.CreateOrganizationAsync();
        var otherMember = await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{other.Id}/members", new { email = "c@example.com", role = "member" })).JsonAsync();
        await (await App.AdminClient().DeleteAsync($"{url}/{otherMember.GetProperty("id").GetString()}")).ShouldBeProblemAsync(404, "not_found");
    }

    [Fact]
    public async Task A_slug_derived_from_a_name_with_diacritics_is_transliterated()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        (await App.CreateOrganizationAsync($"Zoë Müller {suffix}")).Slug.ShouldBe($"zoe-muller-{suffix}");
        (await App.CreateOrganizationAsync($"Straße Ærø Łódź {suffix}")).Slug.ShouldBe($"strasse-aero-lodz-{suffix}");
    }

    [Fact]
    public async Task A_member_needs_a_role_and_one_email_is_one_member_of_an_organization()
    {
        var org = await App.CreateOrganizationAsync();
        var url = $"/v1/admin/organizations/{org.Id}/members";
        var noRole = await (await App.AdminClient().PostJsonAsync(url, new { email = "r@example.com" })).ShouldBeProblemAsync(400, "validation_failed");
        noRole.GetProperty("errors").GetProperty("role")[0].GetString()!.ShouldContain("required");

        (await App.AdminClient().PostJsonAsync(url, new { email = "Same@Example.com", role = "member" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        var again = await (await App.AdminClient().PostJsonAsync(url, new { email = "same@example.com", externalUserId = "user_x", role = "admin" }))
            .ShouldBeProblemAsync(409, "member_exists");
        again.GetProperty("detail").GetString()!.ShouldContain("email");
        // Another organization may have the same person.
        var other = await App.CreateOrganizationAsync();
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{other.Id}/members", new { email = "same@example.com", role = "member" }))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Twenty_concurrent_adds_of_one_email_make_one_member()
    {
        var org = await App.CreateOrganizationAsync();
        var client = App.AdminClient();
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            client.PostJsonAsync($"/v1/admin/organizations/{org.Id}/members", new { email = "race@example.com", externalUserId = "user_" + i, role = "member" }))));
        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBe(19);
        await using var connection = await App.OpenAsync();
        (await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection,
            "select count(*) from organization_members where organization_id = @id and deleted_at is null", new { id = org.Id })).ShouldBe(1);
    }

    [Fact]
    public async Task Organization_endpoints_are_for_the_operator_only()
    {
        var tenant = await App.CreateTenantAsync("admin");
        await (await App.Client(tenant).GetAsync($"/v1/admin/organizations/{tenant.OrganizationId}")).ShouldBeProblemAsync(403, "forbidden");
        await (await App.CreateClient().GetAsync("/v1/admin/organizations")).ShouldBeProblemAsync(401, "unauthorized");
    }
}

public sealed class OrganizationsTestsOnSqlite(SqliteApp<DefaultSetup> app) : OrganizationsTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OrganizationsTestsOnPostgres(PostgresApp<DefaultSetup> app) : OrganizationsTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
