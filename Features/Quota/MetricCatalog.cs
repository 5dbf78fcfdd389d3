namespace Backstop.Features.Quota;

/// <summary>A row of <c>usage_metrics</c>.</summary>
internal sealed record MetricRow
{
    public string Name { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Description { get; init; } = "";
    public long? DefaultLimit { get; init; }
    public bool Creation { get; init; }
    public bool BuiltIn { get; init; }
    public string UsageWindow { get; init; } = UsageWindows.Month;
    public string? DisplayName { get; init; }
    public string? Unit { get; init; }
    public string Thresholds { get; init; } = "80,100";
    public string LimitMode { get; init; } = "hard";
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public bool IsGauge => Kind == BuiltInMetrics.Gauge;

    public MetricDeclaration ToDeclaration() =>
        new(Name, Kind, Description, DefaultLimit, Creation, BuiltIn)
        {
            Window = IsGauge ? UsageWindows.None : UsageWindow, DisplayName = DisplayName, Unit = Unit, Thresholds = ParseThresholds(Thresholds),
            LimitMode = LimitMode,
        };

    public static IReadOnlyList<int> ParseThresholds(string? text) =>
        string.IsNullOrWhiteSpace(text) ? [] : [.. text.Split(',').Select(t => int.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).Order()];

    public const string Columns = "name, kind, description, default_limit, creation, built_in, usage_window, display_name, unit, thresholds, limit_mode, created_at, updated_at";

    /// <summary><see cref="Columns"/>, each prefixed with a table alias (for a join).</summary>
    public static string ColumnsOf(string alias) => string.Join(", ", Columns.Split(", ").Select(c => $"{alias}.{c}"));

    public static Task<MetricRow?> FindAsync(DbConnection connection, DbTransaction? tx, string name, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<MetricRow>(new CommandDefinition(
            $"select {Columns} from usage_metrics where name = @name", new { name }, tx, cancellationToken: ct));
}

internal sealed class MetricCatalog(Db db) : IMetricCatalog
{
    public async Task<MetricDeclaration?> FindAsync(string name, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await MetricRow.FindAsync(connection, null, name, ct))?.ToDeclaration();
    }

    public async Task<IReadOnlyList<string>> UndeclaredAsync(IEnumerable<string> names, CancellationToken ct)
    {
        var wanted = names.Distinct(StringComparer.Ordinal).ToArray();
        if (wanted.Length == 0) return [];
        await using var connection = await db.OpenAsync(ct);
        var declared = (await connection.QueryAsync<string>(new CommandDefinition(
            "select name from usage_metrics", cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        return wanted.Where(n => !declared.Contains(n)).ToList();
    }
}
