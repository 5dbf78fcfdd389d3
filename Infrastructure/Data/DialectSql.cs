namespace Backstop.Infrastructure.Data;

/// <summary>The fragments of SQL that differ between the dialects, so a statement names the intent, not the dialect.</summary>
internal static class DialectSql
{
    /// <summary>
    /// Ends a sub-select that picks rows to change: on PostgreSQL rows another transaction holds are skipped instead of
    /// waited for (a sweep never deadlocks with, or queues behind, the request holding them; a later run gets them).
    /// SQLite has one writer for the whole database, so there is nothing to skip and the clause does not exist.
    /// </summary>
    public static string SkipLocked(this Dialect dialect) => dialect == Dialect.Postgres ? "for update skip locked" : "";
}
