using System.Reflection;

namespace Backstop.Infrastructure.Data;

internal sealed record Migration(string Id, string Module, string Sql);

/// <summary>
/// Applies the embedded, numbered SQL migrations of every slice (<c>**/Migrations/{sqlite|postgres}/NNNN_name.sql</c>),
/// each in its own transaction, recorded in <c>schema_migrations</c>. Numbers are global across slices, so the order
/// in which a fresh database is built never depends on the order slices were registered.
/// Instances starting together are serialised: <c>pg_advisory_lock</c> on PostgreSQL, the database write lock
/// (<c>BEGIN IMMEDIATE</c>) around each migration on SQLite.
/// </summary>
internal sealed class Migrator(Db db, TimeProvider time, ILogger<Migrator> log)
{
    // An arbitrary constant shared by every Backstop instance: the key of the advisory lock that serialises migrations.
    private const long AdvisoryLockKey = 0x4261636b73746f70; // "Backstop"

    private static readonly Lazy<IReadOnlyDictionary<Dialect, IReadOnlyList<Migration>>> Embedded = new(LoadEmbedded);

    public IReadOnlyList<Migration> Migrations => Embedded.Value[db.Dialect];

    public async Task<int> MigrateAsync(CancellationToken ct = default)
    {
        await using var connection = await db.OpenAsync(ct);
        if (db.Dialect == Dialect.Postgres)
        {
            await connection.ExecuteAsync(new CommandDefinition("select pg_advisory_lock(@key)", new { key = AdvisoryLockKey }, cancellationToken: ct));
        }
        else
        {
            // WAL lets readers work while one writer commits; the setting is stored in the file, so once is enough.
            await connection.ExecuteAsync(new CommandDefinition("pragma journal_mode = wal", cancellationToken: ct));
        }

        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                db.Dialect == Dialect.Postgres
                    ? "create table if not exists schema_migrations (id text primary key, module text not null, applied_at timestamptz not null)"
                    : "create table if not exists schema_migrations (id text primary key, module text not null, applied_at text not null)",
                cancellationToken: ct));

            var applied = 0;
            foreach (var migration in Migrations)
            {
                await using var tx = await Db.BeginAsync(connection, ct);
                var done = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "select count(*) from schema_migrations where id = @Id", new { migration.Id }, tx, cancellationToken: ct));
                if (done > 0)
                {
                    await tx.RollbackAsync(ct);
                    continue;
                }

                await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: tx, cancellationToken: ct));
                await connection.ExecuteAsync(new CommandDefinition(
                    "insert into schema_migrations (id, module, applied_at) values (@Id, @Module, @now)",
                    new { migration.Id, migration.Module, now = time.GetUtcNow() }, tx, cancellationToken: ct));
                await tx.CommitAsync(ct);
                applied++;
                log.LogInformation("Applied migration {MigrationId} of {Module}", migration.Id, migration.Module);
            }

            log.LogInformation("Database is up to date ({Dialect}, {Applied} migrations applied now, {Total} in all)",
                db.Dialect, applied, Migrations.Count);
            return applied;
        }
        finally
        {
            if (db.Dialect == Dialect.Postgres)
                await connection.ExecuteAsync(new CommandDefinition("select pg_advisory_unlock(@key)", new { key = AdvisoryLockKey }, cancellationToken: CancellationToken.None));
        }
    }

    /// <summary>Migrations this binary has that the database has not recorded.</summary>
    public async Task<IReadOnlyList<string>> PendingAsync(DbConnection connection, CancellationToken ct = default)
    {
        IEnumerable<string> applied;
        try
        {
            applied = await connection.QueryAsync<string>(new CommandDefinition("select id from schema_migrations", cancellationToken: ct));
        }
        catch (DbException)
        {
            return Migrations.Select(m => m.Id).ToList(); // no schema_migrations table yet
        }
        var set = applied.ToHashSet(StringComparer.Ordinal);
        return Migrations.Where(m => !set.Contains(m.Id)).Select(m => m.Id).ToList();
    }

    private static IReadOnlyDictionary<Dialect, IReadOnlyList<Migration>> LoadEmbedded()
    {
        var assembly = typeof(Migrator).Assembly;
        var result = new Dictionary<Dialect, List<Migration>> { [Dialect.Sqlite] = [], [Dialect.Postgres] = [] };
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("migrations/", StringComparison.Ordinal)))
        {
            // migrations/<Module path>/Migrations/<dialect>/<NNNN_name>.sql
            var parts = name.Replace('\\', '/').Split('/');
            var dialect = parts[^2] switch
            {
                "sqlite" => Dialect.Sqlite,
                "postgres" => Dialect.Postgres,
                var other => throw new InvalidOperationException($"Migration {name} is in an unknown dialect folder '{other}'."),
            };
            var module = string.Join('/', parts[1..^3]);
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            result[dialect].Add(new Migration(Path.GetFileNameWithoutExtension(parts[^1]), module, reader.ReadToEnd()));
        }

        foreach (var (dialect, list) in result)
        {
            var duplicate = list.GroupBy(m => m.Id).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new InvalidOperationException($"Migration id {duplicate.Key} is used twice for {dialect}.");
            list.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        }

        var sqliteIds = result[Dialect.Sqlite].Select(m => m.Id);
        var pgIds = result[Dialect.Postgres].Select(m => m.Id);
        var unpaired = sqliteIds.Except(pgIds).Concat(pgIds.Except(sqliteIds)).ToList();
        if (unpaired.Count > 0)
            throw new InvalidOperationException($"Migrations without a twin in the other dialect: {string.Join(", ", unpaired)}.");

        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<Migration>)kv.Value);
    }
}
