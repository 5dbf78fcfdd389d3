using Backstop.Infrastructure.Events;

namespace Backstop.Features.ApiKeys;

internal sealed record ApiKeyRow
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string Name { get; init; } = "";
    public string Prefix { get; init; } = "";
    public string Scopes { get; init; } = "";
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public DateTimeOffset? RotatedAt { get; init; }
    public string? ReplacedById { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A key as listed: never its secret or hash. <c>status</c>: <c>active</c>, <c>revoked</c> or <c>expired</c>.</summary>
internal sealed record ApiKeyResponse(
    string Id, string Name, string Prefix, IReadOnlyList<string> Scopes, string Status, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt, DateTimeOffset? RotatedAt, string? ReplacedById)
{
    public static ApiKeyResponse From(ApiKeyRow row, DateTimeOffset now) => new(
        row.Id, row.Name, row.Prefix, ApiKeyStore.SplitScopes(row.Scopes),
        row.RevokedAt is not null ? "revoked" : row.ExpiresAt <= now ? "expired" : "active",
        row.CreatedAt, row.ExpiresAt, row.LastUsedAt, row.RevokedAt, row.RotatedAt, row.ReplacedById);
}

/// <summary>The only response that ever carries the key itself.</summary>
internal sealed record CreatedApiKeyResponse(
    string Id, string Name, string Key, string Prefix, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt);

/// <summary>Creating, listing, revoking and rotating keys; every statement is scoped by the organization id.</summary>
internal sealed class ApiKeyStore(Db db, ApiKeyCache cache, TimeProvider time, IOptions<ApiKeysOptions> options, IAuditLog audit, IEventPublisher events)
{
    public static readonly IReadOnlyList<string> DefaultScopes = ["read", "write"];

    private const string Columns = "id, organization_id, name, prefix, scopes, expires_at, revoked_at, rotated_at, replaced_by_id, last_used_at, created_at";

    public static IReadOnlyList<string> SplitScopes(string scopes) => scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Scopes in canonical order without duplicates, stored space-separated.</summary>
    public static string JoinScopes(IEnumerable<string> scopes) =>
        string.Join(' ', BackstopPolicies.Scopes.Where(s => scopes.Contains(s, StringComparer.Ordinal)));

    public async Task<CreatedApiKeyResponse> CreateAsync(string organizationId, string name, IReadOnlyList<string>? scopes,
        DateTimeOffset? expiresAt, CancellationToken ct)
    {
        return await db.InTransactionAsync(async (c, tx) =>
        {
            var created = await InsertAsync(c, tx, organizationId, name, JoinScopes(scopes ?? DefaultScopes), expiresAt, ct)
                          ?? throw ProblemException.NotFound("Organization");
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.ApiKeyCreate, "api_key", created.Id, organizationId,
                new { created.Name, created.Prefix, created.Scopes, created.ExpiresAt }), ct);
            await ApiKeyEvents.KeyAsync(events, c, tx, EventTypes.ApiKeyCreated, organizationId, created.Id, created.CreatedAt, ct);
            return created;
        }, ct);
    }

    private async Task<CreatedApiKeyResponse?> InsertAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? tx,
        string organizationId, string name, string scopes, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        var (key, parts) = KeyFormat.Generate();
        var now = time.GetUtcNow();
        var id = Ids.New(time);
        // One statement: the organization cannot be deleted between a check and the insert.
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into api_keys (id, organization_id, name, lookup_id, prefix, key_hash, scopes, expires_at, created_at, updated_at)
            select @id, @organizationId, @name, @lookupId, @prefix, @hash, @scopes, @expiresAt, @now, @now
            where exists (select 1 from organizations where id = @organizationId and deleted_at is null)
            """,
            new { id, organizationId, name, lookupId = parts.LookupId, prefix = parts.Prefix, hash = Secrets.Hash(key), scopes, expiresAt, now },
            tx, cancellationToken: ct));
        return inserted == 0 ? null : new CreatedApiKeyResponse(id, name, key, parts.Prefix, SplitScopes(scopes), now, expiresAt);
    }

    public async Task<Page<ApiKeyResponse>> ListAsync(string organizationId, PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.PageAsync<ApiKeyRow>($"select {Columns} from api_keys", "organization_id = @organizationId",
            new { organizationId }, page, r => r.Id, ct);
        var now = time.GetUtcNow();
        return rows.Map(r => ApiKeyResponse.From(r, now));
    }

    /// <summary>
    /// Revokes the key at once: on this instance from the next request, on others when their cache of verified keys
    /// ages out (<see cref="ApiKeysOptions.CacheSeconds"/>). Revoking a revoked key again is fine; a key of another
    /// organization is 404.
    /// </summary>
    public async Task RevokeAsync(string organizationId, string keyId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var found = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "select count(*) from api_keys where id = @keyId and organization_id = @organizationId",
                new { keyId, organizationId }, tx, cancellationToken: ct));
            if (found == 0) throw ProblemException.NotFound("API key");
            var prefix = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                update api_keys set revoked_at = @now, updated_at = @now
                where id = @keyId and organization_id = @organizationId and revoked_at is null
                returning prefix
                """, new { keyId, organizationId, now }, tx, cancellationToken: ct));
            // Only a revocation that changed something is a change; revoking again is a no-op.
            if (prefix is not null)
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.ApiKeyRevoke, "api_key", keyId, organizationId, new { prefix }), ct);
            if (prefix is not null) await ApiKeyEvents.KeyAsync(events, connection, tx, EventTypes.ApiKeyRevoked, organizationId, keyId, now, ct);
        }, ct);
        cache.ForgetKey(keyId);
    }

    /// <summary>
    /// Replaces a live key with a new one of the same name and scopes. The old key keeps working until the end of
    /// the overlap (or its own earlier expiry). The conditional update on <c>replaced_by_id is null</c> makes
    /// concurrent rotations of one key produce exactly one replacement.
    /// </summary>
    public async Task<CreatedApiKeyResponse> RotateAsync(string organizationId, string keyId, DateTimeOffset? newExpiresAt,
        int? overlapMinutes, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var overlapEnd = now.AddMinutes(overlapMinutes ?? options.Value.RotationOverlapMinutes);
        // The old key's cached expiry is the one before the rotation; forget it once the new one has committed.
        var created = await db.InTransactionAsync(async (c, tx) =>
        {
            var old = await c.QuerySingleOrDefaultAsync<ApiKeyRow>(new CommandDefinition(
                $"""
                select {Columns} from api_keys
                where id = @keyId and organization_id = @organizationId
                  and organization_id in (select id from organizations where deleted_at is null)
                """, new { keyId, organizationId }, tx, cancellationToken: ct)) ?? throw ProblemException.NotFound("API key");
            if (old.ReplacedById is not null)
                throw new ProblemException(409, "api_key_already_rotated", "This key was already rotated; rotate its replacement instead.");
            if (old.RevokedAt is not null || old.ExpiresAt <= now)
                throw new ProblemException(409, "api_key_not_active", "Only an active key can be rotated.");

            var created = await InsertAsync(c, tx, organizationId, old.Name, old.Scopes, newExpiresAt, ct)
                          ?? throw ProblemException.NotFound("API key");
            var updated = await c.ExecuteAsync(new CommandDefinition(
                """
                update api_keys
                set replaced_by_id = @newId, rotated_at = @now, updated_at = @now,
                    expires_at = case when expires_at is not null and expires_at < @overlapEnd then expires_at else @overlapEnd end
                where id = @keyId and organization_id = @organizationId and replaced_by_id is null and revoked_at is null
                """, new { keyId, organizationId, newId = created.Id, now, overlapEnd }, tx, cancellationToken: ct));
            // Lost a race with another rotation or a revocation: the whole transaction (and the new key) is rolled back.
            if (updated == 0)
                throw new ProblemException(409, "api_key_already_rotated", "This key was rotated or revoked at the same time; list the keys and retry.");
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.ApiKeyRotate, "api_key", keyId, organizationId,
                new { old.Prefix, replacedById = created.Id, replacementPrefix = created.Prefix, overlapEndsAt = overlapEnd, created.ExpiresAt }), ct);
            await ApiKeyEvents.KeyAsync(events, c, tx, EventTypes.ApiKeyRotated, organizationId, keyId, now, ct);
            return created;
        }, ct);
        cache.ForgetKey(keyId);
        return created;
    }
}
