using System.Data;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Backstop.Infrastructure.Data;

/// <summary>
/// The one place that knows which database is behind the service: opens connections with the right settings and
/// runs units of work in transactions. Slices write portable SQL and ask <see cref="Dialect"/> only where a
/// statement must differ.
/// </summary>
internal sealed class Db : IAsyncDisposable
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
            dataSource = NpgsqlDataSource.Create(WithPoolDefaults(o.ConnectionString!));
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

    /// <summary>
    /// Npgsql's settings Backstop changes unless the connection string sets them itself:
    /// <list type="bullet">
    /// <item><c>Max Auto Prepare=64</c>: a statement run a few times on a physical connection is prepared there, so
    /// PostgreSQL stops parsing and planning the same text for every request (it halved the server's CPU per
    /// consumption). Every statement of Backstop names its columns, so a migration adding one cannot change a
    /// prepared statement's result type under a running instance.</item>
    /// <item><c>No Reset On Close=true</c>: a connection returned to the pool is not sent <c>DISCARD ALL</c>, which
    /// would also drop those prepared statements. Backstop leaves no session state behind: its only session setting
    /// is <c>set local</c> (transaction-scoped) and the migrator's advisory lock is released explicitly.</item>
    /// </list>
    /// </summary>
    internal static string WithPoolDefaults(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        bool Names(params string[] keys) => keys.Any(k => given.Keys.Cast<string>().Any(g => string.Equals(g.Replace(" ", ""), k, StringComparison.OrdinalIgnoreCase)));
        if (!Names("MaxAutoPrepare")) builder.MaxAutoPrepare = 64;
        if (!Names("NoResetOnClose")) builder.NoResetOnClose = true;
        return builder.ConnectionString;
    }

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
        await ConfigureAsync(connection, Synchronous.Normal, ct);
        return connection;
    }

    private enum Synchronous
    {
        Unset,
        Normal,
        Full,
    }

    /// <summary>What a physical SQLite connection was last set to; pooling hands the same native handle out again.</summary>
    private sealed class HandleState
    {
        public Synchronous Synchronous;
    }

    // Keyed by the native handle, so an entry lives exactly as long as the physical connection (the pool closes
    // handles it drops). Pragmas are per physical connection and survive a return to the pool: running them on
    // every Open cost three statements per connection use, a quarter of the database time of a cached API request.
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, HandleState> Handles = new();

    private static async Task ConfigureAsync(SqliteConnection connection, Synchronous synchronous, CancellationToken ct)
    {
        var state = Handles.GetValue(connection.Handle!, _ => new HandleState());
        if (state.Synchronous == synchronous) return;
        await using var pragma = connection.CreateCommand();
        // busy_timeout makes BEGIN IMMEDIATE wait for the writer lock instead of failing at once; foreign keys are off
        // by default in SQLite. Both are per connection. For synchronous see BeginDurableAsync.
        pragma.CommandText = (state.Synchronous == Synchronous.Unset ? "pragma busy_timeout = 30000; pragma foreign_keys = on; " : "")
            + (synchronous == Synchronous.Full ? "pragma synchronous = full;" : "pragma synchronous = normal;");
        await pragma.ExecuteNonQueryAsync(ct);
        state.Synchronous = synchronous;
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

    /// <summary>
    /// Begins a transaction on <paramref name="connection"/> (one of <see cref="OpenAsync"/>) whose commit reaches
    /// the disk before <c>CommitAsync</c> returns: for a writer that keeps its connection and commits batches. On
    /// SQLite the connection stays <c>synchronous = full</c> until <see cref="OpenAsync"/> hands it out again.
    /// </summary>
    /// <remarks>
    /// Every other transaction commits with <c>synchronous = normal</c> on SQLite: in WAL mode the commit is written
    /// to the WAL but fsynced only at the next checkpoint, which survives a crash of the process (the OS has the
    /// data) but not of the machine. That is safe because a power loss can only cut the history at a commit
    /// boundary, never tear one: the WAL is replayed up to the last complete commit, so the database comes back as
    /// of an earlier moment, consistent, with no half transaction (a checksummed frame chain; see sqlite.org/wal.html).
    /// A durable commit also makes every earlier commit durable (one WAL, synced up to its end). So what can be lost
    /// is only the tail of recent normal commits: processing of a durably stored event (its effects and its
    /// "processed" mark commit together, so the event comes back unprocessed and the inbox job processes it
    /// again), outbox "sent" marks (the message goes again with the same idempotency key: delivery is
    /// at-least-once anyway), last-use times, failure counters of the lockout (an attacker gains at most the
    /// counts of the moment of a power cut), and admin changes whose caller saw 2xx and can see they are missing.
    /// On PostgreSQL every commit is durable unless the server is configured otherwise (synchronous_commit);
    /// this path sets it on for its own transaction, whatever the server, database or role default says.
    /// </remarks>
    public static async Task<DbTransaction> BeginDurableAsync(DbConnection connection, CancellationToken ct = default)
    {
        if (connection is SqliteConnection sqlite)
        {
            // Set outside the transaction: it applies to the connection's next commits, and the commit of this one.
            await ConfigureAsync(sqlite, Synchronous.Full, ct);
            return sqlite.BeginTransaction(IsolationLevel.Serializable, deferred: false);
        }
        var tx = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
        await using var set = connection.CreateCommand();
        set.Transaction = tx;
        // "local": for this transaction only, so the pooled session is not changed for later users.
        set.CommandText = "set local synchronous_commit = on";
        await set.ExecuteNonQueryAsync(ct);
        return tx;
    }

    public async ValueTask DisposeAsync()
    {
        if (dataSource is not null) await dataSource.DisposeAsync();
    }
}
