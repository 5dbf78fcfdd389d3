using Backstop.Features.ApiKeys;

namespace Backstop.Tests.Features.ApiKeys;

/// <summary>The Webhooks slice provisions through <see cref="IOrganizationDirectory"/> inside its own transaction.</summary>
public abstract class OrganizationDirectoryTests(BackstopFactory app) : AppTest(app)
{
    private static ProvisionRequest Request(string externalOrg, string externalUser, string role = "owner", string? slug = null) =>
        new(externalOrg, "Org " + externalOrg, slug, externalUser, externalUser + "@example.com", "User " + externalUser, role);

    private Task<ProvisionResult> ProvisionAsync(ProvisionRequest request) =>
        App.Service<Db>().InTransactionAsync((c, tx) => App.Service<IOrganizationDirectory>().ProvisionAsync(c, tx, request, CancellationToken.None));

    [Fact]
    public async Task Twenty_concurrent_provisions_of_one_external_organization_and_user_make_one_of_each()
    {
        var (org, user) = ("org_" + Guid.NewGuid().ToString("N"), "user_" + Guid.NewGuid().ToString("N"));
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => ProvisionAsync(Request(org, user)))));

        results.Select(r => r.OrganizationId).Distinct().Count().ShouldBe(1);
        results.Select(r => r.MemberId).Distinct().Count().ShouldBe(1);
        results.Count(r => r.OrganizationCreated).ShouldBe(1);
        results.Count(r => r.MemberCreated).ShouldBe(1);

        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from organizations where external_id = @org", new { org })).ShouldBe(1);
        (await connection.ExecuteScalarAsync<long>("select count(*) from organization_members where external_user_id = @user", new { user })).ShouldBe(1);
    }

    [Fact]
    public async Task A_rolled_back_caller_transaction_leaves_neither_organization_nor_member()
    {
        var (org, user) = ("org_" + Guid.NewGuid().ToString("N"), "user_" + Guid.NewGuid().ToString("N"));
        await using (var connection = await App.Service<Db>().OpenAsync())
        await using (var tx = await Db.BeginAsync(connection))
        {
            var result = await App.Service<IOrganizationDirectory>().ProvisionAsync(connection, tx, Request(org, user), CancellationToken.None);
            result.OrganizationCreated.ShouldBeTrue();
            await tx.RollbackAsync();
        }

        await using var check = await App.OpenAsync();
        (await check.ExecuteScalarAsync<long>("select count(*) from organizations where external_id = @org", new { org })).ShouldBe(0);
        (await check.ExecuteScalarAsync<long>("select count(*) from organization_members where external_user_id = @user", new { user })).ShouldBe(0);
    }

    [Fact]
    public async Task Provisioning_again_updates_the_role_and_adds_further_members()
    {
        var (org, user, second) = ("org_" + Guid.NewGuid().ToString("N"), "user_" + Guid.NewGuid().ToString("N"), "user_" + Guid.NewGuid().ToString("N"));
        var first = await ProvisionAsync(Request(org, user, "owner"));
        var again = await ProvisionAsync(Request(org, user, "admin"));
        again.ShouldBe(first with { OrganizationCreated = false, MemberCreated = false });
        var other = await ProvisionAsync(Request(org, second, "member"));
        other.OrganizationId.ShouldBe(first.OrganizationId);
        other.MemberCreated.ShouldBeTrue();

        var members = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{first.OrganizationId}/members")).JsonAsync();
        var roles = members.GetProperty("items").EnumerateArray().ToDictionary(m => m.GetProperty("externalUserId").GetString()!, m => m.GetProperty("role").GetString());
        roles[user].ShouldBe("admin");
        roles[second].ShouldBe("member");
    }

    [Fact]
    public async Task A_taken_slug_from_the_identity_provider_gets_a_suffix_instead_of_failing()
    {
        var taken = await App.CreateOrganizationAsync();
        var result = await ProvisionAsync(Request("org_" + Guid.NewGuid().ToString("N"), "user_" + Guid.NewGuid().ToString("N"), slug: taken.Slug));
        var created = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{result.OrganizationId}")).JsonAsync();
        created.GetProperty("slug").GetString()!.ShouldStartWith(taken.Slug + "-");
    }

    [Fact]
    public async Task Removing_an_external_user_ends_their_memberships_everywhere()
    {
        var user = "user_" + Guid.NewGuid().ToString("N");
        var a = await ProvisionAsync(Request("org_" + Guid.NewGuid().ToString("N"), user));
        await ProvisionAsync(Request("org_" + Guid.NewGuid().ToString("N"), user, "member"));

        var removed = await App.Service<Db>().InTransactionAsync((c, tx) =>
            App.Service<IOrganizationDirectory>().RemoveExternalUserAsync(c, tx, user, CancellationToken.None));
        removed.ShouldBe(2);

        var members = await (await App.AdminClient().GetAsync($"/v1/admin/organizations/{a.OrganizationId}/members")).JsonAsync();
        members.GetProperty("items").GetArrayLength().ShouldBe(0);
        // Provisioning the user again makes a new membership.
        (await ProvisionAsync(Request("org_x" + user, user))).MemberCreated.ShouldBeTrue();
    }
}

public sealed class OrganizationDirectoryTestsOnSqlite(SqliteApp<DefaultSetup> app) : OrganizationDirectoryTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OrganizationDirectoryTestsOnPostgres(PostgresApp<DefaultSetup> app) : OrganizationDirectoryTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
