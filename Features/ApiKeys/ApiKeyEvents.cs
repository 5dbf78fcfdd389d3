using Backstop.Infrastructure.Events;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// The slice's outbound events (docs/events-catalogue.md), written in the transaction of their change. An API key's
/// event carries the key as <c>GET /v1/api-keys</c> lists it (<see cref="ApiKeyResponse"/>: id, name, prefix, scopes,
/// status, times) — never the key itself or its hash; an organization's carries <see cref="OrganizationResponse"/>.
/// </summary>
internal static class ApiKeyEvents
{
    /// <summary>Publishes <paramref name="type"/> with the key <paramref name="keyId"/> as it is now in <paramref name="tx"/>.</summary>
    public static async Task KeyAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, string type, string organizationId,
        string keyId, DateTimeOffset now, CancellationToken ct)
    {
        var row = await connection.QuerySingleAsync<ApiKeyRow>(new CommandDefinition(
            """
            select id, organization_id, name, prefix, scopes, expires_at, revoked_at, rotated_at, replaced_by_id, last_used_at, created_at
            from api_keys where id = @keyId and organization_id = @organizationId
            """, new { keyId, organizationId }, tx, cancellationToken: ct));
        await events.PublishAsync(connection, tx, type, organizationId, ApiKeyResponse.From(row, now), ct);
    }

    /// <summary><c>organization.created</c> (by the operator or provisioned by the identity provider).</summary>
    public static Task OrganizationCreatedAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, OrganizationRow row, CancellationToken ct) =>
        events.PublishAsync(connection, tx, EventTypes.OrganizationCreated, row.Id, OrganizationResponse.From(row), ct);

    /// <summary><c>organization.deleted</c>: the organization as it was, with its deletion time.</summary>
    public static async Task OrganizationDeletedAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, string organizationId,
        CancellationToken ct)
    {
        var row = await connection.QuerySingleAsync<DeletedOrganizationRow>(new CommandDefinition(
            "select id, slug, name, created_at, updated_at, deleted_at from organizations where id = @organizationId",
            new { organizationId }, tx, cancellationToken: ct));
        await events.PublishAsync(connection, tx, EventTypes.OrganizationDeleted, organizationId,
            new OrganizationResponse(row.Id, row.Slug, row.Name, row.CreatedAt, row.UpdatedAt) { DeletedAt = row.DeletedAt }, ct);
    }
}
