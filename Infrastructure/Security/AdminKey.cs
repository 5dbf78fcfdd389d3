namespace Backstop.Infrastructure.Security;

/// <summary>
/// The operator's admin key. Configured (<c>Admin:ApiKey</c>) it is used as is; otherwise the first start generates
/// one, stores only its hash and hands it over once: printed when stdout is a terminal, else written to
/// <c>Admin:KeyFile</c> (<c>./data/admin-key</c>, mode 0600 in a 0700 folder) with a log line saying where, because
/// a redirected stdout is a log pipeline (docker logs, journald, a CI log) that would keep the key for anyone who
/// reads logs. Several instances starting together agree on one key: the insert is <c>on conflict do nothing</c> and
/// only the instance whose row landed hands its key over. <c>backstop admin-key rotate</c> replaces it
/// (<see cref="RotateAsync"/>); running instances pick the new hash up within <see cref="RefreshInterval"/>.
/// </summary>
internal sealed class AdminKey(Db db, IOptions<AdminOptions> options, TimeProvider time, ILogger<AdminKey> log)
{
    /// <summary>How often a running instance re-reads the stored hash, so a rotation revokes the old key everywhere.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    public const string Prefix = "bsa_";
    // SHA-256 of the key (Secrets.Digest): only its hash is ever stored.
    private byte[]? digest;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(options.Value.ApiKey);

    public Task InitializeAsync(TextWriter console, CancellationToken ct = default) =>
        InitializeAsync(console, consoleIsTerminal: !Console.IsOutputRedirected, ct);

    /// <param name="consoleIsTerminal">Whether <paramref name="console"/> is a terminal a person reads (not a file, pipe or log collector).</param>
    public async Task InitializeAsync(TextWriter console, bool consoleIsTerminal, CancellationToken ct = default)
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
        await HandOverAsync(key, "generated", console, consoleIsTerminal, ct);
    }

    /// <summary>
    /// <c>backstop admin-key rotate</c>: stores a new key's hash in place of the old one (which stops working here at
    /// once and on running instances within <see cref="RefreshInterval"/>), records <c>admin_key.rotate</c> in the
    /// audit log in the same transaction, and hands the new key over as a generated one is. Refused when the key is
    /// configured (<c>Admin:ApiKey</c>): that key is changed where it is configured.
    /// </summary>
    public async Task<int> RotateAsync(TextWriter console, bool consoleIsTerminal, Audit.IAuditLog audit, CancellationToken ct = default)
    {
        if (IsConfigured)
        {
            await Console.Error.WriteLineAsync("The admin key is configured (Admin:ApiKey); change it there and restart instead.");
            return 1;
        }
        var key = Prefix + Secrets.RandomToken(32);
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into admin_credentials (id, key_hash, created_at, updated_at)
                values ('admin', @hash, @now, @now)
                on conflict (id) do update set key_hash = excluded.key_hash, updated_at = excluded.updated_at
                """, new { hash = Secrets.Hash(key), now }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new Audit.AuditEntry(Audit.AuditActions.AdminKeyRotate, "admin_key", "admin",
                Changes: new { rotatedAt = now }, Actor: "cli"), ct);
        }, ct);
        digest = Secrets.Digest(key);
        await HandOverAsync(key, "rotated", console, consoleIsTerminal, ct);
        return 0;
    }

    /// <summary>Re-reads the stored hash (a rotation by another process). Keeps the current one when the row is gone or unreadable.</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        if (IsConfigured) return;
        await using var connection = await db.OpenAsync(ct);
        var stored = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select key_hash from admin_credentials where id = 'admin'", cancellationToken: ct));
        if (stored is not null && Secrets.DigestOf(stored) is { } fresh) digest = fresh;
    }

    private async Task HandOverAsync(string key, string what, TextWriter console, bool consoleIsTerminal, CancellationToken ct)
    {
        if (consoleIsTerminal)
        {
            // Printed to the terminal once, outside the structured log, so it never reaches a log pipeline as an event.
            await console.WriteLineAsync($"Backstop {what} an admin API key (shown only now, store it safely): {key}");
            await console.WriteLineAsync("Use it as 'Authorization: Bearer <key>' for /v1/admin/..., and as the password of user 'admin' for /hangfire. Set Admin:ApiKey to choose your own.");
            await console.FlushAsync(ct);
            log.LogWarning("Admin API key {What}: printed to the terminal once", what);
            return;
        }

        var path = Path.GetFullPath(options.Value.KeyFile);
        WriteKeyFile(path, key);
        log.LogWarning("Admin API key {What}: stdout is not a terminal, so the key was written to {KeyFile} (readable only by this user) instead of the output; read it from there, then delete the file", what, path);
    }

    /// <summary>The key file, created 0600 from the start (never briefly readable by others), in a folder made 0700 when this creates it.</summary>
    internal static void WriteKeyFile(string path, string key)
    {
        var folder = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(folder))
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
            else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var temp = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, fileOptions))
        using (var writer = new StreamWriter(stream))
            writer.WriteLine(key);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
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
