using System.Security.Claims;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using Dapper;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Backstop.Features.ApiKeys;

/// <summary>
/// Verifies tenant keys: shape and checksum first (a typo never reaches the database), then one indexed lookup by
/// the lookup id and a constant-time comparison of hashes.
/// </summary>
public sealed class ApiKeyAuthenticator(Db db, TimeProvider time, IOptions<ApiKeysOptions> options, ILogger<ApiKeyAuthenticator> log)
    : IApiKeyAuthenticator
{
    private sealed record KeyRecord
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
    }

    public string? PrefixOf(string token) => KeyFormat.PrefixOf(token);

    public async Task<AuthenticateResult?> AuthenticateAsync(string token, HttpContext context, CancellationToken ct)
    {
        if (!token.StartsWith(KeyFormat.TypePrefix, StringComparison.Ordinal)) return null;
        var parsed = KeyFormat.TryParse(token);
        if (parsed is null) return AuthFailure.Fail(context, "invalid_api_key", "The API key is not valid (malformed or mistyped).");

        await using var connection = await db.OpenAsync(ct);
        var key = await connection.QuerySingleOrDefaultAsync<KeyRecord>(new CommandDefinition(
            """
            select k.id, k.organization_id, k.prefix, k.key_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at,
                   o.deleted_at as organization_deleted_at
            from api_keys k join organizations o on o.id = k.organization_id
            where k.lookup_id = @LookupId
            """, new { parsed.LookupId }, cancellationToken: ct));
        var hash = Secrets.Hash(token);
        if (key is null || !Secrets.FixedTimeEquals(hash, key.KeyHash))
            return AuthFailure.Fail(context, "invalid_api_key", "The API key is not valid.");

        var now = time.GetUtcNow();
        if (key.RevokedAt is not null || key.OrganizationDeletedAt is not null)
            return AuthFailure.Fail(context, "api_key_revoked", "The API key has been revoked.", countsAsGuess: false);
        if (key.ExpiresAt <= now)
            return AuthFailure.Fail(context, "api_key_expired", "The API key has expired.", countsAsGuess: false);

        await TouchAsync(connection, key, now);

        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, key.Prefix),
            new(BackstopClaims.OrganizationId, key.OrganizationId),
            new(BackstopClaims.KeyId, key.Id),
        };
        claims.AddRange(ApiKeyStore.SplitScopes(key.Scopes).Select(s => new Claim(BackstopClaims.Scope, s)));
        var identity = new ClaimsIdentity(claims, BackstopClaims.Scheme);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), BackstopClaims.Scheme));
    }

    /// <summary>
    /// Records the use at most once per interval per key: the read above skips most requests without a write, and
    /// the conditional update lets only one of several concurrent requests write.
    /// </summary>
    private async Task TouchAsync(System.Data.Common.DbConnection connection, KeyRecord key, DateTimeOffset now)
    {
        var threshold = now.AddSeconds(-options.Value.LastUsedIntervalSeconds);
        if (key.LastUsedAt > threshold) return;
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update api_keys set last_used_at = @now, updated_at = @now
                where id = @id and (last_used_at is null or last_used_at <= @threshold)
                """, new { id = key.Id, now, threshold }));
        }
        catch (Exception e) when (e is System.Data.Common.DbException)
        {
            // A busy database must not turn a valid request into an error; the next request records the use.
            log.LogWarning(e, "Could not record the last use of API key {KeyId}", key.Id);
        }
    }
}
