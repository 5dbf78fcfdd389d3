namespace Backstop.Features.Quota;

/// <summary>
/// The declared metrics, for the slices that name them: Billing refuses a plan whose limits name an undeclared
/// metric (400), using <see cref="UndeclaredAsync"/>.
/// </summary>
public interface IMetricCatalog
{
    Task<MetricDeclaration?> FindAsync(string name, CancellationToken ct);

    /// <summary>Those of <paramref name="names"/> that are not declared (empty: all are).</summary>
    Task<IReadOnlyList<string>> UndeclaredAsync(IEnumerable<string> names, CancellationToken ct);
}

/// <param name="Kind"><c>counter</c> (per billing period) or <c>gauge</c> (a current amount, never reset).</param>
/// <param name="DefaultLimit">The limit of organizations whose plan does not name the metric; null: they cannot use it.</param>
/// <param name="Creation">Consuming it creates something: refused while the organization is past due.</param>
/// <param name="BuiltIn">One of Backstop's own metrics (its kind cannot change).</param>
public sealed record MetricDeclaration(string Name, string Kind, string Description, long? DefaultLimit, bool Creation, bool BuiltIn)
{
    /// <summary>When a counter starts again: <c>month</c>, <c>billing_period</c>, <c>day</c>, <c>year</c>; <c>none</c> for a gauge.</summary>
    public string Window { get; init; } = "month";

    /// <summary>How people call it ("chatbots"); null: the name.</summary>
    public string? DisplayName { get; init; }

    /// <summary>What one unit is ("chatbots", "bytes"); null: the display name.</summary>
    public string? Unit { get; init; }

    /// <summary>Percentages of the limit at which the organization's owners are told (default 80 and 100).</summary>
    public IReadOnlyList<int> Thresholds { get; init; } = [80, 100];

    /// <summary><c>hard</c> (refused past the limit) or <c>soft</c> (admitted, the overage counted).</summary>
    public string LimitMode { get; init; } = "hard";
}
