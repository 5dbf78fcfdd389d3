using Microsoft.Data.Sqlite;
using Npgsql;

namespace Backstop.Infrastructure.Data;

/// <summary>
/// The one place where the two dialects differ in a statement or an error: the fragments of SQL that differ, so a
/// statement names the intent, not the dialect, and the driver errors a caller decides on. A feature slice never
/// imports <c>Npgsql</c> or <c>Microsoft.Data.Sqlite</c> (ArchitectureTests holds it); it asks this class.
/// </summary>
internal static class DialectSql
{
    /// <summary>The dialect of an open connection (for code handed a connection rather than <see cref="Db"/>).</summary>
    public static Dialect Of(DbConnection connection) => connection is NpgsqlConnection ? Dialect.Postgres : Dialect.Sqlite;

    /// <summary>
    /// Ends a select whose rows the transaction is about to change: on PostgreSQL it locks them (<c>for update</c>),
    /// so a concurrent transaction waits instead of deciding on the same values. SQLite's transaction (begun
    /// <c>immediate</c>, see <see cref="Db.BeginAsync"/>) already holds the one writer lock; the clause does not exist there.
    /// Answers the clause without surrounding spaces (<c>""</c> on SQLite).
    /// </summary>
    public static string ForUpdate(this Dialect dialect) => dialect == Dialect.Postgres ? "for update" : "";

    /// <summary>
    /// Ends a sub-select that picks rows to change: on PostgreSQL rows another transaction holds are skipped instead of
    /// waited for (a sweep never deadlocks with, or queues behind, the request holding them; a later run gets them).
    /// SQLite has one writer for the whole database, so there is nothing to skip and the clause does not exist.
    /// </summary>
    public static string SkipLocked(this Dialect dialect) => dialect == Dialect.Postgres ? "for update skip locked" : "";

    /// <summary>
    /// <c>column</c> is one of the list parameter <c>@parameter</c>: Dapper hands Npgsql a list as one array parameter
    /// (<c>= any(@p)</c>) and expands it into <c>in (@p1, @p2, …)</c> for SQLite.
    /// </summary>
    public static string AnyOf(this Dialect dialect, string column, string parameter) =>
        dialect == Dialect.Postgres ? $"{column} = any(@{parameter})" : $"{column} in @{parameter}";

    /// <summary>Whether the exception is a unique-constraint (or primary-key) violation in either dialect.</summary>
    public static bool IsUniqueViolation(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sq => sq.SqliteErrorCode == 19 && sq.SqliteExtendedErrorCode is 2067 or 1555,
        _ => false,
    };

    /// <summary>Whether the exception is a foreign-key violation in either dialect.</summary>
    public static bool IsForeignKeyViolation(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.ForeignKeyViolation,
        SqliteException sq => sq.SqliteErrorCode == 19 && sq.SqliteExtendedErrorCode == 787,
        _ => false,
    };

    /// <summary>
    /// Whether the transaction lost a race the database resolved by aborting it, so running it again is correct:
    /// PostgreSQL's serialization failure (40001) or deadlock (40P01). SQLite has one writer and waits for it
    /// (busy timeout), so it never answers this.
    /// </summary>
    public static bool IsSerializationFailure(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    /// <summary>The driver's short code of a database error (PostgreSQL's SQLSTATE, SQLite's extended result code), for logs.</summary>
    public static string? ErrorCode(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState,
        SqliteException sq => $"SQLITE_{sq.SqliteExtendedErrorCode}",
        _ => null,
    };
}
