using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Data;
using Dapper;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// The operator's admin key. Configured (<c>Admin:ApiKey</c>) it is used as is; otherwise the first start generates
/// one, stores only its hash and prints it once. Several instances starting together agree on one key: the insert
/// is <c>on conflict do nothing</c> and only the instance whose row landed prints its key.
/// </summary>
internal sealed class AdminKey(Db db, IOptions<AdminOptions> options, TimeProvider time, ILogger<AdminKey> log)
{
    public const string Prefix = "bsa_";
    // SHA-256 of the key (Secrets.Digest): only its hash is ever stored.
    private byte[]? digest;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(options.Value.ApiKey);

    public async Task InitializeAsync(TextWriter console, CancellationToken ct = default)
    {
        if (IsConfigured)
        {
            digest = Secrets.Digest(options.Value.ApiKey!.Trim());
            return;
        }

        await using var connection = await db.OpenAsync(ct);
        var stored = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select key_hash from admin_credentials where id = 'admin'", cancellationToken: ct));
        if (stored is not null)
        {
            digest = Secrets.DigestOf(stored) ?? throw StoredHashUnreadable();
            return;
        }

        var key = Prefix + Secrets.RandomToken(32);
        var now = time.GetUtcNow();
        var inserted = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into admin_credentials (id, key_hash, created_at, updated_at)
            values ('admin', @hash, @now, @now)
            on conflict (id) do nothing
            returning id
            """, new { hash = Secrets.Hash(key), now }, cancellationToken: ct));
        if (inserted is null)
        {
            var winner = await connection.QuerySingleAsync<string>(new CommandDefinition(
                "select key_hash from admin_credentials where id = 'admin'", cancellationToken: ct));
            digest = Secrets.DigestOf(winner) ?? throw StoredHashUnreadable();
            return;
        }

        digest = Secrets.Digest(key);
        // Printed to stdout once, outside the structured log, so it never reaches a log pipeline as an event.
        await console.WriteLineAsync($"Backstop generated an admin API key (shown only now, store it safely): {key}");
        await console.WriteLineAsync("Use it as 'Authorization: Bearer <key>' for /v1/admin/..., and as the password of user 'admin' for /hangfire. Set Admin:ApiKey to choose your own.");
        await console.FlushAsync(ct);
        log.LogWarning("No Admin:ApiKey configured: generated one and printed it to stdout once");
    }

    // No key could ever match it: say so at start-up, with the two ways out, rather than refuse every admin request.
    private static InvalidConfigurationException StoredHashUnreadable() => new([
        "The stored admin key hash (table admin_credentials, id 'admin') is not a SHA-256 hex digest. Set Admin:ApiKey " +
        "to use a key of your own, or delete that row to have a new key generated and printed at the next start."]);

    public bool Matches(string candidate) => MatchesDigest(Secrets.Digest(candidate));

    /// <summary>Like <see cref="Matches"/> for a candidate already through <see cref="Secrets.Digest(string)"/>.</summary>
    public bool MatchesDigest(ReadOnlySpan<byte> candidateDigest)
    {
        var expected = digest ?? throw new InvalidOperationException("The admin key has not been initialised.");
        return Secrets.FixedTimeEquals(candidateDigest, expected);
    }
}
