using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Infrastructure;

/// <summary>
/// Every migration has a twin per dialect; this holds the twins to one schema. Both databases are migrated from
/// scratch and compared: the same tables, the same columns with the same type family (text, integer, real, blob:
/// a timestamp is text on SQLite and timestamptz on PostgreSQL, a boolean an integer and a boolean), the same
/// nullability and primary keys, the same indexes with the same columns and uniqueness.
/// </summary>
public sealed class SchemaParityTests(PostgresServer postgres)
{
    [Fact]
    public async Task Sqlite_and_postgres_migrations_build_the_same_schema()
    {
        if (postgres.ConnectionString is null) Assert.Skip(postgres.UnavailableReason ?? "PostgreSQL is not available.");
        var sqlite = await SchemaAsync(new DatabaseOptions
        {
            Provider = "sqlite", ConnectionString = $"Data Source={Path.Combine(Path.GetTempPath(), "backstop-tests", Guid.NewGuid().ToString("N") + ".db")}",
        });
        var pg = await SchemaAsync(new DatabaseOptions { Provider = "postgres", ConnectionString = await postgres.CreateDatabaseAsync() });

        sqlite.Count.ShouldBeGreaterThan(30);
        var onlySqlite = sqlite.Except(pg).Order(StringComparer.Ordinal).ToList();
        var onlyPostgres = pg.Except(sqlite).Order(StringComparer.Ordinal).ToList();
        (onlySqlite.Count + onlyPostgres.Count).ShouldBe(0,
            "SQLite only:\n  " + string.Join("\n  ", onlySqlite) + "\nPostgreSQL only:\n  " + string.Join("\n  ", onlyPostgres));
    }

    [Theory]
    [InlineData("text", "text")]
    [InlineData("timestamptz", "text")]
    [InlineData("timestamp with time zone", "text")]
    [InlineData("character varying", "text")]
    [InlineData("bigint", "integer")]
    [InlineData("boolean", "integer")]
    [InlineData("INTEGER", "integer")]
    [InlineData("double precision", "real")]
    [InlineData("bytea", "blob")]
    public void Types_are_compared_by_family(string declared, string family) => Family(declared).ShouldBe(family);

    /// <summary>The schema as lines: "table t", "column t.c family null|not null", "pk t (a, b)", "index t name unique? (a, b)".</summary>
    private static async Task<HashSet<string>> SchemaAsync(DatabaseOptions options)
    {
        Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "backstop-tests"));
        await using var db = new Db(Options.Create(options));
        await new Migrator(db, TimeProvider.System, NullLogger<Migrator>.Instance).MigrateAsync();
        await using var connection = await db.OpenAsync();
        var lines = new HashSet<string>(StringComparer.Ordinal);
        if (db.Dialect == Dialect.Sqlite)
        {
            var tables = await connection.QueryAsync<string>("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'");
            foreach (var table in tables)
            {
                lines.Add($"table {table}");
                var columns = (await connection.QueryAsync<(long Cid, string Name, string Type, long NotNull, string? Default, long Pk)>(
                    $"select cid, name, type, \"notnull\", dflt_value, pk from pragma_table_info('{table}')")).ToList();
                foreach (var c in columns)
                    // SQLite lets a primary key column be null unless declared not null; PostgreSQL never does: a key is not null.
                    lines.Add($"column {table}.{c.Name} {Family(c.Type)} {(c.NotNull == 1 || c.Pk > 0 ? "not null" : "null")}");
                var pk = columns.Where(c => c.Pk > 0).OrderBy(c => c.Pk).Select(c => c.Name).ToList();
                if (pk.Count > 0) lines.Add($"pk {table} ({string.Join(", ", pk)})");
                var indexes = await connection.QueryAsync<(string Name, long Unique, string Origin)>(
                    $"select name, \"unique\", origin from pragma_index_list('{table}')");
                foreach (var index in indexes.Where(i => i.Origin == "c"))
                {
                    var cols = await connection.QueryAsync<string>($"select coalesce(name, '<expr>') from pragma_index_info('{index.Name}') order by seqno");
                    lines.Add($"index {table} {index.Name}{(index.Unique == 1 ? " unique" : "")} ({string.Join(", ", cols)})");
                }
                // Unique constraints written in the table (origin 'u') are compared as constraints, whatever their generated name.
                foreach (var index in indexes.Where(i => i.Origin == "u"))
                {
                    var cols = await connection.QueryAsync<string>($"select name from pragma_index_info('{index.Name}') order by seqno");
                    lines.Add($"unique {table} ({string.Join(", ", cols)})");
                }
            }
        }
        else
        {
            var columns = await connection.QueryAsync<(string Table, string Column, string Type, string Nullable)>(
                """
                select c.table_name, c.column_name, c.data_type, c.is_nullable
                from information_schema.columns c join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
                where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
                """);
            foreach (var c in columns)
            {
                lines.Add($"table {c.Table}");
                lines.Add($"column {c.Table}.{c.Column} {Family(c.Type)} {(c.Nullable == "YES" ? "null" : "not null")}");
            }
            var indexes = await connection.QueryAsync<(string Table, string Name, bool Unique, bool Primary, bool Constraint, string Columns)>(
                """
                select t.relname, i.relname, x.indisunique, x.indisprimary,
                       exists (select 1 from pg_constraint k where k.conindid = x.indexrelid and k.contype = 'u'),
                       coalesce((select string_agg(coalesce(a.attname, '<expr>'), ', ' order by k.n)
                                 from unnest(x.indkey) with ordinality as k(attnum, n)
                                 left join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum and k.attnum <> 0), '')
                from pg_index x
                join pg_class i on i.oid = x.indexrelid
                join pg_class t on t.oid = x.indrelid
                join pg_namespace s on s.oid = t.relnamespace
                where s.nspname = current_schema()
                """);
            foreach (var index in indexes)
            {
                if (index.Primary) lines.Add($"pk {index.Table} ({index.Columns})");
                else if (index.Constraint) lines.Add($"unique {index.Table} ({index.Columns})");
                else lines.Add($"index {index.Table} {index.Name}{(index.Unique ? " unique" : "")} ({index.Columns})");
            }
        }
        return lines;
    }

    private static string Family(string declared)
    {
        var t = declared.ToLowerInvariant();
        if (t.Contains("int") || t == "boolean" || t == "bool") return "integer";
        if (t.Contains("char") || t.Contains("text") || t.Contains("clob") || t.StartsWith("timestamp", StringComparison.Ordinal) || t is "uuid" or "jsonb" or "json" or "date") return "text";
        if (t.Contains("real") || t.Contains("floa") || t.Contains("doub") || t == "numeric") return "real";
        if (t.Contains("blob") || t == "bytea") return "blob";
        return t;
    }
}
