using Backstop.Tests.Features.Quota;
using Npgsql;

namespace Backstop.Tests.Infrastructure.Data;

/// <summary>
/// The database of this test class loads PostgreSQL's <c>auto_explain</c> for every session, logs the plan of every
/// statement the service runs (with its real parameters, as the service binds them) and plans with
/// <c>enable_seqscan = off</c>: where any index can serve a query the planner takes it, whatever the table's size, so
/// a sequential scan in a logged plan means no index serves that query at all.
/// </summary>
public sealed class QueryPlanSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        var connectionString = settings["Database:ConnectionString"];
        if (connectionString is null) return;
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        foreach (var set in new[]
                 {
                     "session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0",
                     "auto_explain.log_format = 'json'", "auto_explain.log_nested_statements = on", "enable_seqscan = off",
                 })
        {
            using var command = new NpgsqlCommand($"alter database \"{database}\" set {set}", connection);
            command.ExecuteNonQuery();
        }
    }
}

/// <summary>
/// Every list the API and the operator serve, and every sweep the jobs run, is served by an index on PostgreSQL
/// (#29): the test drives each list (each filter, first and later page) and runs each recurring job, then reads the
/// plans <c>auto_explain</c> logged and fails on a sequential scan of a table that grows with traffic, or on a full
/// index scan that filters rows it could have found by an index condition (the 1.3 s <c>status=failed</c> inbox list
/// of a million events).
/// </summary>
public sealed class QueryPlanTests(PostgresApp<QueryPlanSetup> app) : AppTest(app), IClassFixture<PostgresApp<QueryPlanSetup>>
{
    /// <summary>Tables that stay small whatever the traffic (configuration, a row per job or per plan).</summary>
    private static readonly HashSet<string> SmallTables =
    [
        "admin_credentials", "cleanup_totals", "data_protection_keys", "job_leases", "plans", "coupons", "usage_metrics",
        "event_sequences", "schema_migrations", "event_endpoint_counts",
    ];

    /// <summary>The same list, for <see cref="SqliteQueryPlanTests"/>.</summary>
    internal static IReadOnlySet<string> SmallTableNames => SmallTables;

    [Fact]
    public async Task Every_list_and_sweep_query_is_served_by_an_index()
    {
        var log = ((PostgresFactory)App).Postgres.LogFile;
        if (log is null)
        {
            if (PostgresServer.InCi) throw new InvalidOperationException("CI=true: this test needs the throwaway PostgreSQL's log file");
            Assert.Skip("BACKSTOP_TEST_POSTGRES names a server whose log this test cannot read.");
        }

        // Everything the service did at start (migrations, seeding) is before this point of the log.
        var admin = App.AdminClient();
        (await admin.GetAsync("/v1/admin/plans")).EnsureSuccessStatusCode();
        var from = new FileInfo(log).Length;

        var refused = await QueryPlanDriver.DriveListsAndJobsAsync(App);

        // A partial index holds only the rows its predicate admits (pending, held, deleted…): reading all of it is the point.
        await using (var connection = await App.OpenAsync())
            partialIndexes = (await Dapper.SqlMapper.QueryAsync<string>(connection,
                "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid where i.indpred is not null")).ToHashSet();
        var plans = ReadPlans(log, from);
        plans.Count.ShouldBeGreaterThan(50, "auto_explain logged too few plans: is it loaded for the test database?");
        var offenders = plans
            .SelectMany(p => Offences(p.Plan).Select(o => $"{o}\n    in: {Squash(p.Query)}"))
            .Distinct()
            .ToList();
        refused.ShouldBeEmpty("requests the test meant to plan were refused:\n" + string.Join("\n", refused)
            + "\n\nqueries no index serves:\n" + string.Join("\n", offenders));
        offenders.ShouldBeEmpty("queries no index serves:\n" + string.Join("\n", offenders));
    }

    private HashSet<string> partialIndexes = [];

    /// <summary>Why this plan node (or one below it) reads a large table without an index, if it does.</summary>
    private IEnumerable<string> Offences(JsonElement node)
    {
        var type = node.GetProperty("Node Type").GetString();
        if (node.TryGetProperty("Relation Name", out var relation) && !SmallTables.Contains(relation.GetString()!)
            && !relation.GetString()!.StartsWith("pg_", StringComparison.Ordinal))
        {
            var table = relation.GetString();
            if (type == "Seq Scan")
                yield return $"Seq Scan on {table}" + (node.TryGetProperty("Filter", out var f) ? $" (filter {f.GetString()})" : "");
            else if (type is "Index Scan" or "Index Only Scan" && node.TryGetProperty("Filter", out var filter)
                     && !node.TryGetProperty("Index Cond", out _) && !partialIndexes.Contains(node.GetProperty("Index Name").GetString()!))
                yield return $"{type} of all of {node.GetProperty("Index Name").GetString()} on {table} filtering {filter.GetString()}";
        }
        if (node.TryGetProperty("Plans", out var children))
            foreach (var child in children.EnumerateArray())
            foreach (var offence in Offences(child))
                yield return offence;
    }

    private sealed record LoggedPlan(string Query, JsonElement Plan);

    /// <summary>The JSON plans auto_explain wrote to the server log after <paramref name="from"/> (multi-line entries).</summary>
    private static List<LoggedPlan> ReadPlans(string log, long from)
    {
        using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(from, SeekOrigin.Begin);
        var text = new StreamReader(stream).ReadToEnd();
        var plans = new List<LoggedPlan>();
        // An entry starts with the log line prefix's timestamp; continuation lines start with a tab.
        var entries = System.Text.RegularExpressions.Regex.Split(text, @"\n(?=\d{4}-\d{2}-\d{2} )");
        foreach (var entry in entries)
        {
            var marker = entry.IndexOf("plan:", StringComparison.Ordinal);
            if (marker < 0 || !entry.Contains("duration:", StringComparison.Ordinal)) continue;
            var json = entry[(marker + 5)..];
            try
            {
                using var document = JsonDocument.Parse(json);
                var root = document.RootElement;
                plans.Add(new LoggedPlan(root.GetProperty("Query Text").GetString() ?? "", root.GetProperty("Plan").Clone()));
            }
            catch (JsonException)
            {
                // Another server's message interleaved with this entry: not a plan of ours.
            }
        }
        return plans;
    }

    private static string Squash(string sql)
    {
        var one = System.Text.RegularExpressions.Regex.Replace(sql, @"\s+", " ").Trim();
        return one.Length > 300 ? one[..300] + "…" : one;
    }
}
