using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;

namespace Backstop.Features.ApiKeys;

/// <summary>A key as the authenticator reads it: never listed, never returned.</summary>
internal sealed record VerifiedKeyRecord
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string Prefix { get; init; } = "";
    public string KeyHash { get; init; } = "";
    public string Scopes { get; init; } = "";
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset? OrganizationDeletedAt { get; init; }
    public string OrganizationSlug { get; init; } = "";
    public string OrganizationName { get; init; } = "";
}

/// <summary>
/// The key a request was authenticated with, as a request feature: <c>GET /v1/me</c> answers from it without a query.
/// Read from the database by this request or within <see cref="ApiKeysOptions.CacheSeconds"/> (see <see cref="ApiKeyCache"/>).
/// </summary>
internal sealed record AuthenticatedKey(VerifiedKeyRecord Key);

/// <summary>
/// Verifies tenant keys: shape and checksum first (a typo never reaches the database), then one indexed lookup by
/// the lookup id and a constant-time comparison of hashes. A key that verified is remembered for
/// <see cref="ApiKeysOptions.CacheSeconds"/> (see <see cref="ApiKeyCache"/>), so a busy client costs one lookup per
/// key and interval instead of one per request. The lookup also reads the organization's slug and name, so the key's
/// own endpoint (<c>GET /v1/me</c>) needs no query of its own.
/// </summary>
internal sealed class ApiKeyAuthenticator(Db db, ApiKeyCache cache, TimeProvider time, IOptions<ApiKeysOptions> options,
    ILogger<ApiKeyAuthenticator> log) : IApiKeyAuthenticator
{
    public string? PrefixOf(string token) => KeyFormat.PrefixOf(token);

    public async Task<AuthenticateResult?> AuthenticateAsync(string token, byte[] digest, HttpContext context, CancellationToken ct)
    {
        if (!token.StartsWith(KeyFormat.TypePrefix, StringComparison.Ordinal)) return null;
        var parsed = KeyFormat.TryParseShape(token);
        if (parsed is null) return Malformed(context);

        var now = time.GetUtcNow();
        // Only active keys are cached, and an entry of this key is only trusted with the right secret: a wrong
        // secret for a cached lookup id is decided by the database like any other guess. A token with the cached
        // key's hash is that key, so its checksum is right and need not be computed again.
        if (cache.Find(parsed.LookupId, now) is { } cached && Secrets.FixedTimeEquals(digest, cached.KeyDigest))
        {
            if (cached.Key.ExpiresAt <= now)
                return AuthFailure.Fail(context, "api_key_expired", "The API key has expired.", countsAsGuess: false);
            if (cached.LastUsedAt is not { } used || used <= now.AddSeconds(-options.Value.LastUsedIntervalSeconds))
            {
                await using var touchConnection = await db.OpenAsync(ct);
                await TouchAsync(touchConnection, cached.Key.Id, cached.LastUsedAt, now);
                cached.LastUsedAt = now;
            }
            return Success(context, cached.Key, cached.Principal);
        }

        // A typo or a truncated key never reaches the database.
        if (!KeyFormat.ChecksumMatches(token)) return Malformed(context);

        var generation = cache.Generation;
        await using var connection = await db.OpenAsync(ct);
        var key = await connection.QuerySingleOrDefaultAsync<VerifiedKeyRecord>(new CommandDefinition(
            """
            select k.id, k.organization_id, k.prefix, k.key_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at,
                   o.deleted_at as organization_deleted_at, o.slug as organization_slug, o.name as organization_name
            from api_keys k join organizations o on o.id = k.organization_id
            where k.lookup_id = @LookupId
            """, new { parsed.LookupId }, cancellationToken: ct));
        if (key is null || Secrets.DigestOf(key.KeyHash) is not { } stored || !Secrets.FixedTimeEquals(digest, stored))
            return AuthFailure.Fail(context, "invalid_api_key", "The API key is not valid.");

        if (key.RevokedAt is not null || key.OrganizationDeletedAt is not null)
            return AuthFailure.Fail(context, "api_key_revoked", "The API key has been revoked.", countsAsGuess: false);
        if (key.ExpiresAt <= now)
            return AuthFailure.Fail(context, "api_key_expired", "The API key has expired.", countsAsGuess: false);

        var lastUsed = key.LastUsedAt;
        if (lastUsed is not { } u || u <= now.AddSeconds(-options.Value.LastUsedIntervalSeconds))
        {
            await TouchAsync(connection, key.Id, lastUsed, now);
            lastUsed = now;
        }
        var principal = PrincipalOf(key);
        cache.Add(parsed.LookupId, key, stored, principal, lastUsed, now, generation);
        return Success(context, key, principal);
    }

    private static AuthenticateResult Malformed(HttpContext context) =>
        AuthFailure.Fail(context, "invalid_api_key", "The API key is not valid (malformed or mistyped).");

    private static AuthenticateResult Success(HttpContext context, VerifiedKeyRecord key, ClaimsPrincipal principal)
    {
        context.Features.Set(new AuthenticatedKey(key));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, BackstopClaims.Scheme));
    }

    /// <summary>
    /// Built once per verification and shared by the requests a cached entry serves: nothing in the request path
    /// changes a principal (no claims transformation is registered; the policy evaluator wraps it in a new principal
    /// without touching its identity), so sharing it saves the claims of every request.
    /// </summary>
    private static ClaimsPrincipal PrincipalOf(VerifiedKeyRecord key)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, key.Prefix),
            new(BackstopClaims.OrganizationId, key.OrganizationId),
            new(BackstopClaims.KeyId, key.Id),
        };
        claims.AddRange(ApiKeyStore.SplitScopes(key.Scopes).Select(s => new Claim(BackstopClaims.Scope, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, BackstopClaims.Scheme));
    }

    /// <summary>
    /// Records the use at most once per interval per key: the check of the caller skips most requests without a
    /// write, and the conditional update lets only one of several concurrent requests (or instances) write.
    /// </summary>
    private async Task TouchAsync(DbConnection connection, string keyId, DateTimeOffset? lastUsedAt, DateTimeOffset now)
    {
        var threshold = now.AddSeconds(-options.Value.LastUsedIntervalSeconds);
        if (lastUsedAt > threshold) return;
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update api_keys set last_used_at = @now, updated_at = @now
                where id = @id and (last_used_at is null or last_used_at <= @threshold)
                """, new { id = keyId, now, threshold }));
        }
        catch (Exception e) when (e is DbException)
        {
            // A busy database must not turn a valid request into an error; the next request records the use.
            log.LogWarning(e, "Could not record the last use of API key {KeyId}", keyId);
        }
    }
}
