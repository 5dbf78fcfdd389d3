using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Backstop.Infrastructure.Data;

/// <summary>
/// The one place that knows which database is behind the service: opens connections with the right settings and
/// runs units of work in transactions. Slices write portable SQL and ask <see cref="Dialect"/> only where a
/// statement must differ.
/// </summary>
public sealed class Db : IAsyncDisposable
{
    private readonly NpgsqlDataSource? dataSource;
    private readonly string? sqliteConnectionString;

    public Db(IOptions<DatabaseOptions> options)
    {
        DapperSetup.EnsureRegistered();
        var o = options.Value;
        Dialect = o.Dialect;
        if (Dialect == Dialect.Postgres)
        {
            dataSource = NpgsqlDataSource.Create(o.ConnectionString!);
        }
        else
        {
            var builder = new SqliteConnectionStringBuilder(
                string.IsNullOrWhiteSpace(o.ConnectionString) ? "Data Source=./data/backstop.db" : o.ConnectionString)
            {
                Pooling = true,
                // Microsoft.Data.Sqlite retries SQLITE_BUSY for up to the command timeout.
                DefaultTimeout = 30,
            };
            var file = builder.DataSource;
            if (!string.IsNullOrEmpty(file) && file != ":memory:")
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(file));
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            }
            sqliteConnectionString = builder.ToString();
            SqliteFile = file;
        }
    }

    public Dialect Dialect { get; }

    /// <summary>The SQLite database file, when the dialect is SQLite.</summary>
    public string? SqliteFile { get; }

    /// <summary>Told of every connection this instance opens, before it is used (tests count statements through it).</summary>
    internal Action<DbConnection>? Opened { get; set; }

    public async Task<DbConnection> OpenAsync(CancellationToken ct = default)
    {
        if (dataSource is not null)
        {
            var pg = await dataSource.OpenConnectionAsync(ct);
            Opened?.Invoke(pg);
            return pg;
        }

        var connection = new SqliteConnection(sqliteConnectionString);
        await connection.OpenAsync(ct);
        Opened?.Invoke(connection);
        await using var pragma = connection.CreateCommand();
        // busy_timeout makes BEGIN IMMEDIATE wait for the writer lock instead of failing at once;
        // foreign keys are off by default in SQLite and are a per-connection setting.
        pragma.CommandText = "pragma busy_timeout = 30000; pragma foreign_keys = on; pragma synchronous = normal;";
        await pragma.ExecuteNonQueryAsync(ct);
        return connection;
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction and commits it. On SQLite the transaction starts with
    /// <c>BEGIN IMMEDIATE</c>: a deferred transaction that reads and then writes can deadlock with another one
    /// upgrading its lock at the same time (SQLITE_BUSY that no timeout resolves).
    /// </summary>
    public async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        await using var tx = await BeginAsync(connection, ct);
        var result = await work(connection, tx);
        await tx.CommitAsync(ct);
        return result;
    }

    public Task InTransactionAsync(Func<DbConnection, DbTransaction, Task> work, CancellationToken ct = default) =>
        InTransactionAsync<bool>(async (c, t) => { await work(c, t); return true; }, ct);

    public static async Task<DbTransaction> BeginAsync(DbConnection connection, CancellationToken ct = default) =>
        connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(IsolationLevel.Serializable, deferred: false)
            : await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);

    /// <summary>Whether the exception is a unique-constraint violation in either dialect.</summary>
    public static bool IsUniqueViolation(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sq => sq.SqliteErrorCode == 19 && sq.SqliteExtendedErrorCode is 2067 or 1555,
        _ => false,
    };

    public async ValueTask DisposeAsync()
    {
        if (dataSource is not null) await dataSource.DisposeAsync();
    }
}
