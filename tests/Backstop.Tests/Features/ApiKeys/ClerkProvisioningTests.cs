using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Tests.Infrastructure.Inbox;
using Microsoft.Extensions.DependencyInjection;
using System.Data.Common;

namespace Backstop.Tests.Features.ApiKeys;

/// <summary>Makes the real directory fail right after it has written, for the external ids the test names.</summary>
internal sealed class DirectoryFailures
{
    public System.Collections.Concurrent.ConcurrentDictionary<string, bool> FailFor { get; } = new();
}

internal sealed class FailingAfterWriteDirectory(IOrganizationDirectory inner, DirectoryFailures failures) : IOrganizationDirectory
{
    public Task<bool> ExistsAsync(DbConnection connection, string organizationId, CancellationToken ct) => inner.ExistsAsync(connection, organizationId, ct);

    public async Task<ProvisionResult> ProvisionAsync(DbConnection connection, DbTransaction transaction, ProvisionRequest request, CancellationToken ct)
    {
        var result = await inner.ProvisionAsync(connection, transaction, request, ct);
        if (failures.FailFor.ContainsKey(request.ExternalUserId))
        {
            // The organization (and member) rows exist in this transaction: the failure comes after the insert.
            (await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "select count(*) from organizations where external_id = @ExternalOrganizationId", request, transaction, cancellationToken: ct))).ShouldBe(1);
            throw new InvalidOperationException("Simulated failure after the organization insert.");
        }
        return result;
    }

    public Task<int> RemoveExternalUserAsync(DbConnection connection, DbTransaction transaction, string externalUserId, CancellationToken ct) =>
        inner.RemoveExternalUserAsync(connection, transaction, externalUserId, ct);

    public Task<IReadOnlyList<string>> NotificationEmailsAsync(DbConnection connection, DbTransaction transaction, string organizationId, string? externalUserId, CancellationToken ct) =>
        inner.NotificationEmailsAsync(connection, transaction, organizationId, externalUserId, ct);

    public Task<long> CountMembersAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct) =>
        inner.CountMembersAsync(connection, transaction, organizationId, ct);
}

/// <summary>Clerk events provision organizations and members through the ApiKeys slice, exactly once.</summary>
public abstract class ClerkProvisioningTests(BackstopFactory app) : AppTest(app)
{
    private static string UserCreated(string userId, string first, string email) => $$$"""
        {"type":"user.created","object":"event","timestamp":1716883200000,"instance_id":"ins_1","data":{
          "id":"{{{userId}}}","object":"user","first_name":"{{{first}}}","last_name":"Tester",
          "primary_email_address_id":"idn_1","email_addresses":[{"id":"idn_1","email_address":"{{{email}}}"}]}}
        """;

    private async Task<(long Organizations, long Members)> CountAsync(string externalOrganizationId, string externalUserId)
    {
        await using var connection = await App.OpenAsync();
        var organizations = await connection.ExecuteScalarAsync<long>("select count(*) from organizations where external_id = @externalOrganizationId", new { externalOrganizationId });
        var members = await connection.ExecuteScalarAsync<long>(
            "select count(*) from organization_members where external_user_id = @externalUserId and deleted_at is null", new { externalUserId });
        return (organizations, members);
    }

    [Fact]
    public async Task User_created_delivered_ten_times_concurrently_makes_one_organization_and_one_member()
    {
        var userId = "user_" + Guid.NewGuid().ToString("N");
        var messageId = "msg_" + Guid.NewGuid().ToString("N");
        var body = UserCreated(userId, "Grace", $"{userId}@example.com");
        var client = App.CreateClient();
        var now = App.Time.GetUtcNow();

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => client.SendAsync(Deliveries.Clerk(messageId, body, now)))));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        (await CountAsync(userId, userId)).ShouldBe((1, 1));
        await using var connection = await App.OpenAsync();
        var member = await connection.QuerySingleAsync<(string Role, string Email, string Name)>(
            """
            select m.role, m.email, o.name from organization_members m join organizations o on o.id = m.organization_id
            where m.external_user_id = @userId
            """, new { userId });
        member.ShouldBe(("owner", $"{userId}@example.com", "Grace Tester"));
    }

    [Fact]
    public async Task The_same_user_created_under_different_message_ids_still_makes_one_organization()
    {
        // Clerk may resend an event as a new message; provisioning is idempotent by external ids too.
        var userId = "user_" + Guid.NewGuid().ToString("N");
        var body = UserCreated(userId, "Linus", $"{userId}@example.com");
        var client = App.CreateClient();
        var now = App.Time.GetUtcNow();

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), body, now)))));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        (await CountAsync(userId, userId)).ShouldBe((1, 1));
    }

    [Fact]
    public async Task A_failure_after_the_organization_insert_leaves_neither_organization_nor_member_and_a_retry_provisions_once()
    {
        var userId = "user_" + Guid.NewGuid().ToString("N");
        var messageId = "msg_" + Guid.NewGuid().ToString("N");
        App.Service<DirectoryFailures>().FailFor[userId] = true;

        var response = await App.CreateClient().SendAsync(Deliveries.Clerk(messageId, UserCreated(userId, "Barbara", $"{userId}@example.com"), App.Time.GetUtcNow()));

        response.StatusCode.ShouldBe(HttpStatusCode.OK); // stored durably; processing failed and will be retried
        (await CountAsync(userId, userId)).ShouldBe((0, 0));
        await using (var connection = await App.OpenAsync())
        {
            var row = await connection.QuerySingleAsync<(string Status, string LastError)>(
                "select status, last_error from webhook_events where provider = 'clerk' and event_id = @messageId", new { messageId });
            row.Status.ShouldBe("failed");
            row.LastError.ShouldContain("after the organization insert");
        }

        App.Service<DirectoryFailures>().FailFor.TryRemove(userId, out _);
        App.Time.Advance(TimeSpan.FromMinutes(5));
        await App.Service<JobRunner>().RunAsync(WebhookInboxJob.Id, CancellationToken.None);

        (await CountAsync(userId, userId)).ShouldBe((1, 1));
    }

    [Fact]
    public async Task Membership_created_provisions_the_organization_and_member_with_the_mapped_role_and_user_deleted_removes_it()
    {
        var orgId = "org_" + Guid.NewGuid().ToString("N");
        var userId = "user_" + Guid.NewGuid().ToString("N");
        var client = App.CreateClient();
        var membership = $$$"""
            {"type":"organizationMembership.created","object":"event","data":{"id":"orgmem_1","object":"organization_membership","role":"org:admin",
              "organization":{"id":"{{{orgId}}}","name":"Acme {{{orgId}}}","slug":null},
              "public_user_data":{"user_id":"{{{userId}}}","identifier":"{{{userId}}}@acme.test","first_name":"Ada","last_name":"L"} } }
            """;

        (await client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), membership, App.Time.GetUtcNow()))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CountAsync(orgId, userId)).ShouldBe((1, 1));
        await using (var connection = await App.OpenAsync())
            (await connection.ExecuteScalarAsync<string>("select role from organization_members where external_user_id = @userId", new { userId })).ShouldBe("admin");

        var deleted = $$$"""{"type":"user.deleted","object":"event","data":{"deleted":true,"id":"{{{userId}}}","object":"user"}}""";
        (await client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), deleted, App.Time.GetUtcNow()))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CountAsync(orgId, userId)).ShouldBe((1, 0));
    }

    private static string UserCreatedAt(string userId, long timestamp) =>
        UserCreated(userId, "Late", $"{userId}@example.com").Replace("\"timestamp\":1716883200000", $"\"timestamp\":{timestamp}");

    private static string UserDeletedAt(string userId, long timestamp) =>
        $$$"""{"type":"user.deleted","object":"event","timestamp":{{{timestamp}}},"data":{"deleted":true,"id":"{{{userId}}}","object":"user"}}""";

    [Fact]
    public async Task A_user_created_that_arrives_after_a_newer_user_deleted_does_not_bring_the_user_back()
    {
        var userId = "user_" + Guid.NewGuid().ToString("N");
        var client = App.CreateClient();
        var now = App.Time.GetUtcNow();

        (await client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), UserDeletedAt(userId, 1716883300000), now))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), UserCreatedAt(userId, 1716883200000), now))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await CountAsync(userId, userId)).ShouldBe((0, 0));
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<string>(
            "select status from webhook_events where provider = 'clerk' and payload like @p", new { p = $"%user.created%{userId}%" })).ShouldBe("processed");
    }

    [Fact]
    public async Task Deletion_and_older_creation_processed_concurrently_always_end_with_the_user_removed()
    {
        // 20 distinct users, each with its deletion and its (older) creation delivered at the same moment:
        // whichever transaction runs first, no user may end provisioned.
        var client = App.CreateClient();
        var now = App.Time.GetUtcNow();
        var users = Enumerable.Range(0, 20).Select(_ => "user_" + Guid.NewGuid().ToString("N")).ToList();

        await Task.WhenAll(users.SelectMany(u => new[]
        {
            Task.Run(() => client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), UserCreatedAt(u, 1716883200000), now))),
            Task.Run(() => client.SendAsync(Deliveries.Clerk("msg_" + Guid.NewGuid().ToString("N"), UserDeletedAt(u, 1716883300000), now))),
        }));

        foreach (var u in users) (await CountAsync(u, u)).Members.ShouldBe(0, u);
    }

}

public static class ClerkProvisioningServices
{
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<DirectoryFailures>();
        services.AddSingleton<IOrganizationDirectory>(sp => new FailingAfterWriteDirectory(
            ActivatorUtilities.CreateInstance<OrganizationDirectory>(sp), sp.GetRequiredService<DirectoryFailures>()));
    }
}

public sealed class ClerkProvisioningTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => Deliveries.Configure(settings);
    public override void ConfigureServices(IServiceCollection services) => ClerkProvisioningServices.Add(services);
}

public sealed class ClerkProvisioningTestsOnSqlite(SqliteApp<ClerkProvisioningTestsSetup> app) : ClerkProvisioningTests(app), IClassFixture<SqliteApp<ClerkProvisioningTestsSetup>>;

public sealed class ClerkProvisioningTestsOnPostgres(PostgresApp<ClerkProvisioningTestsSetup> app) : ClerkProvisioningTests(app), IClassFixture<PostgresApp<ClerkProvisioningTestsSetup>>;
