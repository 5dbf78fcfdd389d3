namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// Operator keys: the console's sign-in credentials besides the admin key. A key is <c>bso_</c> + 256 random bits;
/// only its SHA-256 is stored (like API keys: a high-entropy secret needs no slow hash), looked up by that hash
/// through a unique index and compared again in constant time. They sign in to <c>/console</c> only: the bearer
/// authentication of <c>/v1</c> does not know them.
/// </summary>
internal sealed class OperatorKeyStore(Db db, TimeProvider time, IAuditLog audit)
{
    public const string KeyPrefix = "bso_";
    private const string Columns = "id, name, role, prefix, last_used_at, revoked_at, created_at";

    public async Task<CreatedOperatorKeyResponse> CreateAsync(string name, string role, CancellationToken ct)
    {
        var key = KeyPrefix + Secrets.RandomToken(32);
        var prefix = key[..(KeyPrefix.Length + 6)];
        var now = time.GetUtcNow();
        var id = Ids.New(time);
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            // The live-name index decides between two creations of one name.
            var inserted = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                insert into operator_keys (id, name, role, prefix, key_hash, created_at, updated_at)
                values (@id, @name, @role, @prefix, @hash, @now, @now)
                on conflict do nothing
                returning id
                """, new { id, name, role, prefix, hash = Secrets.Hash(key), now }, tx, cancellationToken: ct));
            if (inserted is null)
                throw new ProblemException(409, "operator_key_name_taken", $"A live operator key is already named '{name}'; revoke it first or choose another name.");
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.OperatorKeyCreate, "operator_key", id, Changes: new { name, role, prefix }), ct);
            return new CreatedOperatorKeyResponse(id, name, role, key, prefix, now);
        }, ct);
    }

    public async Task<Page<OperatorKeyResponse>> ListAsync(PageRequest page, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.PageAsync<OperatorKeyRow>($"select {Columns} from operator_keys", "1 = 1", null, page, r => r.Id, ct);
        return rows.Map(OperatorKeyResponse.From);
    }

    /// <summary>Revokes the key (its console sessions end at their next request); again is a no-op; unknown is 404.</summary>
    public async Task RevokeAsync(string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var revoked = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "update operator_keys set revoked_at = @now, updated_at = @now where id = @id and revoked_at is null returning name",
                new { id, now }, tx, cancellationToken: ct));
            if (revoked is null)
            {
                var exists = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "select count(*) from operator_keys where id = @id", new { id }, tx, cancellationToken: ct));
                if (exists == 0) throw ProblemException.NotFound($"Operator key '{id}'");
                return;
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.OperatorKeyRevoke, "operator_key", id, Changes: new { name = revoked }), ct);
        }, ct);
    }

    /// <summary>The live key this secret is, or null. Records its use.</summary>
    public async Task<OperatorKeyRow?> VerifyAsync(string key, CancellationToken ct)
    {
        if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal) || key.Length > 200) return null;
        var hash = Secrets.Hash(key);
        await using var connection = await db.OpenAsync(ct);
        var stored = await connection.QuerySingleOrDefaultAsync<StoredKey>(new CommandDefinition(
            "select id, key_hash from operator_keys where key_hash = @hash and revoked_at is null", new { hash }, cancellationToken: ct));
        if (stored is null || !Secrets.FixedTimeEquals(hash, stored.KeyHash)) return null;
        var now = time.GetUtcNow();
        return await connection.QuerySingleOrDefaultAsync<OperatorKeyRow>(new CommandDefinition(
            $"update operator_keys set last_used_at = @now, updated_at = @now where id = @id and revoked_at is null returning {Columns}",
            new { id = stored.Id, now }, cancellationToken: ct));
    }

    private sealed record StoredKey
    {
        public string Id { get; init; } = "";
        public string KeyHash { get; init; } = "";
    }

    /// <summary>Whether the key a console session was opened with is still live (a revocation ends its sessions).</summary>
    public async Task<OperatorKeyRow?> FindLiveAsync(string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<OperatorKeyRow>(new CommandDefinition(
            $"select {Columns} from operator_keys where id = @id and revoked_at is null", new { id }, cancellationToken: ct));
    }
}
