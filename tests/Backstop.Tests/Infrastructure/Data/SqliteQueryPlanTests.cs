using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Data;

/// <summary>
/// SQLite's twin of <see cref="QueryPlanTests"/> (#29): every list and sweep query is served by an index on SQLite
/// too. The test records every statement the service runs, drives the same lists and jobs, then asks
/// <c>EXPLAIN QUERY PLAN</c> for each statement (parameters unbound: SQLite's plan does not depend on their values) and fails on a <c>SCAN</c> of a table that grows with traffic
/// without an index: SQLite's planner reads the whole table for it, whatever its size.
/// </summary>
public sealed class SqliteQueryPlanTests(SqliteApp<DefaultSetup> app) : AppTest(app), IClassFixture<SqliteApp<DefaultSetup>>
{
    [Fact]
    public async Task Every_list_and_sweep_query_is_served_by_an_index()
    {
        // Everything the service did at start (migrations, seeding) is before this point.
        (await App.AdminClient().GetAsync("/v1/admin/plans")).EnsureSuccessStatusCode();
        var db = App.Services.GetRequiredService<Db>();
        var statements = new ConcurrentQueue<string>();
        var on = true;
        // The profile hook hands over each statement's text as written, its parameters unbound: the plan is then the
        // one SQLite makes for any values, as it does for the service (it plans a statement once, whatever is bound).
        db.Opened = connection =>
            SQLitePCL.raw.sqlite3_profile(((SqliteConnection)connection).Handle, (_, sql, _) => { if (on) statements.Enqueue(sql); }, null);
        List<string> refused;
        try
        {
            refused = await QueryPlanDriver.DriveListsAndJobsAsync(App);
        }
        finally
        {
            on = false;
            db.Opened = null;
        }

        var queries = statements.Select(s => s.Trim()).Where(IsQuery).Distinct().ToList();
        queries.Count.ShouldBeGreaterThan(50, "the trace caught too few statements: is it attached to the service's connections?");
        var offenders = new List<string>();
        await using (var connection = await App.OpenAsync())
        {
            foreach (var sql in queries)
            {
                var found = await OffencesAsync(connection, sql);
                foreach (var offence in found)
                    offenders.Add($"{offence}\n    in: {Squash(sql)}");
            }
        }
        offenders = offenders.Distinct().ToList();
        refused.ShouldBeEmpty("requests the test meant to plan were refused:\n" + string.Join("\n", refused)
            + "\n\nqueries no index serves:\n" + string.Join("\n", offenders));
        offenders.ShouldBeEmpty("queries no index serves:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public async Task A_list_without_an_index_is_caught()
    {
        // The test's own check, on a query no index can serve (webhook_events has none on payload).
        await using var connection = await App.OpenAsync();
        var offences = await OffencesAsync(connection, "select id from webhook_events where payload = @payload");
        offences.ShouldContain(o => o.StartsWith("SCAN webhook_events", StringComparison.Ordinal));
        (await OffencesAsync(connection, "select id from webhook_events where status = @status order by id desc limit 51")).ShouldBeEmpty();
    }

    /// <summary>Tables that stay small whatever the traffic: <see cref="QueryPlanTests"/>' list, and SQLite's own.</summary>
    private static readonly HashSet<string> SmallTables =
    [
        .. QueryPlanTests.SmallTableNames, "sqlite_master", "sqlite_schema", "pragma_table_info",
    ];

    /// <summary>Each <c>SCAN</c> of a large table without an index in the statement's plan.</summary>
    private static async Task<List<string>> OffencesAsync(DbConnection connection, string sql)
    {
        var offences = new List<string>();
        foreach (var detail in Plan((SqliteConnection)connection, sql))
        {
            // "SCAN t", "SCAN t USING INDEX i", "SCAN t USING COVERING INDEX i", "SCAN t VIRTUAL TABLE …", "SCAN CONSTANT ROW",
            // "SCAN <cte or subquery>" (a materialised result already bounded by its own plan's rows).
            var parts = detail.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || parts[0] != "SCAN") continue;
            var table = parts[1];
            if (parts.Length > 2 && parts[2] is "USING" or "VIRTUAL") continue;
            if (SmallTables.Contains(table) || table == "CONSTANT" || table.StartsWith('(')) continue;
            if (!await IsTableAsync(connection, table)) continue;
            offences.Add(detail);
        }
        return offences;
    }

    /// <summary>The detail lines of <c>EXPLAIN QUERY PLAN</c> for <paramref name="sql"/>, prepared with no parameter bound.</summary>
    private static List<string> Plan(SqliteConnection connection, string sql)
    {
        var handle = connection.Handle!;
        var rc = SQLitePCL.raw.sqlite3_prepare_v2(handle, "explain query plan " + sql, out var statement);
        if (rc != SQLitePCL.raw.SQLITE_OK)
            throw new InvalidOperationException($"cannot plan ({SQLitePCL.raw.sqlite3_errmsg(handle).utf8_to_string()}): {Squash(sql)}");
        using (statement)
        {
            var details = new List<string>();
            while (SQLitePCL.raw.sqlite3_step(statement) == SQLitePCL.raw.SQLITE_ROW)
                details.Add(SQLitePCL.raw.sqlite3_column_text(statement, 3).utf8_to_string());
            return details;
        }
    }

    private static async Task<bool> IsTableAsync(DbConnection connection, string name) =>
        await connection.ExecuteScalarAsync<long>("select count(*) from sqlite_master where type = 'table' and name = @name", new { name }) > 0;

    /// <summary>What a plan is asked for: statements that read or change rows (not pragmas, transactions or DDL).</summary>
    private static bool IsQuery(string sql)
    {
        var head = sql.Split((char[])[' ', '\n', '\r', '\t', '('], 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.ToLowerInvariant();
        return head is "select" or "with" or "update" or "delete" or "insert";
    }

    private static string Squash(string sql)
    {
        var one = System.Text.RegularExpressions.Regex.Replace(sql, @"\s+", " ").Trim();
        return one.Length > 300 ? one[..300] + "…" : one;
    }
}
