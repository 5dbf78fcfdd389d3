using Backstop.Infrastructure.Events;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Provisioning by external (identity provider) ids, inside the caller's transaction. Both steps are decided by
/// unique indexes: <c>organizations.external_id</c> and (organization, external user) among live members. On
/// PostgreSQL a concurrent insert of the same external id waits for the other transaction and then finds its row;
/// on SQLite the caller's <c>BEGIN IMMEDIATE</c> serialises writers.
/// </summary>
internal sealed class OrganizationDirectory(OrganizationStore organizations, TimeProvider time, IEventPublisher events) : IOrganizationDirectory
{
    public async Task<bool> ExistsAsync(DbConnection connection, string organizationId, CancellationToken ct) =>
        await organizations.FindAsync(connection, organizationId, ct) is not null;

    public async Task<ProvisionResult> ProvisionAsync(DbConnection connection, DbTransaction transaction, ProvisionRequest request, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ExternalOrganizationId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ExternalUserId);
        if (!MemberRoles.IsValid(request.Role))
            throw new ArgumentException($"Role must be one of {string.Join(", ", MemberRoles.All)} (got '{request.Role}').", nameof(request));

        var name = string.IsNullOrWhiteSpace(request.OrganizationName) ? request.ExternalOrganizationId : OrganizationStore.Normalize(request.OrganizationName);
        if (name.Length > 200) name = name[..200];
        // A provider's slug is a wish: if it is malformed or taken, a derived one with a suffix is used instead of failing the webhook.
        var slug = request.OrganizationSlug?.Trim().ToLowerInvariant();
        if (slug is not null && !OrganizationStore.SlugPattern().IsMatch(slug)) slug = null;

        var (organization, organizationCreated) = await organizations.InsertAsync(
            connection, transaction, name, slug, slugIsExplicit: false, request.ExternalOrganizationId, ct);
        if (organizationCreated) await ApiKeyEvents.OrganizationCreatedAsync(events, connection, transaction, organization, ct);

        var now = time.GetUtcNow();
        var memberId = Ids.New(time);
        var id = await connection.QuerySingleAsync<string>(new CommandDefinition(
            """
            insert into organization_members (id, organization_id, external_user_id, email, display_name, role, created_at, updated_at)
            values (@memberId, @organizationId, @ExternalUserId, @Email, @DisplayName, @Role, @now, @now)
            on conflict (organization_id, external_user_id) where deleted_at is null do update
                set role = excluded.role,
                    email = coalesce(excluded.email, organization_members.email),
                    display_name = coalesce(excluded.display_name, organization_members.display_name),
                    updated_at = excluded.updated_at
            returning id
            """,
            new { memberId, organizationId = organization.Id, request.ExternalUserId, request.Email, request.DisplayName, request.Role, now },
            transaction, cancellationToken: ct));

        return new ProvisionResult(organization.Id, id, organizationCreated, id == memberId);
    }

    public Task<int> RemoveExternalUserAsync(DbConnection connection, DbTransaction transaction, string externalUserId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            update organization_members set deleted_at = @now, updated_at = @now
            where external_user_id = @externalUserId and deleted_at is null
            """, new { externalUserId, now = time.GetUtcNow() }, transaction, cancellationToken: ct));

    public async Task<IReadOnlyList<string>> NotificationEmailsAsync(DbConnection connection, DbTransaction transaction, string organizationId, string? externalUserId, CancellationToken ct)
    {
        if (externalUserId is not null)
        {
            var member = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                select email from organization_members
                where organization_id = @organizationId and external_user_id = @externalUserId and deleted_at is null and email is not null
                """, new { organizationId, externalUserId }, transaction, cancellationToken: ct));
            if (member is not null) return [member];
        }
        return (await connection.QueryAsync<string>(new CommandDefinition(
            """
            select email from organization_members
            where organization_id = @organizationId and role = 'owner' and deleted_at is null and email is not null
            order by id
            """, new { organizationId }, transaction, cancellationToken: ct))).ToList();
    }

    public Task<long> CountMembersAsync(DbConnection connection, DbTransaction? transaction, string organizationId, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from organization_members where organization_id = @organizationId and deleted_at is null",
            new { organizationId }, transaction, cancellationToken: ct));
}
