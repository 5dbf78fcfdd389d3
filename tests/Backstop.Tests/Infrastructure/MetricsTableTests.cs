using System.Text.RegularExpressions;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>
/// docs/metrics.md is what <c>/metrics</c> of a freshly started instance exports: every <c>backstop_*</c> metric of
/// the table and no other, of the type the table says, with each series the table says exists at start. (Metrics
/// live in one process-wide registry, so other tests may have counted too; what this holds is that nothing is missing.)
/// </summary>
public abstract partial class MetricsTableTests(BackstopFactory app) : AppTest(app)
{
    private sealed record Row(string Name, string Type, string AtStart);

    private static readonly string[] Providers = ["stripe", "clerk", "recall", "deepgram", "paddle", "twilio"];

    private static List<Row> Table()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "App.csproj"))) root = root.Parent ?? throw new InvalidOperationException("repository root not found");
        var path = Path.Combine(root.FullName, "docs", "metrics.md");
        var rows = File.ReadAllLines(path).Where(l => l.StartsWith("| `backstop_", StringComparison.Ordinal))
            .Select(l => l.Split('|').Select(c => c.Trim()).ToArray())
            .Select(c => new Row(c[1].Trim('`'), c[2], c[4]))
            .ToList();
        rows.Count.ShouldBeGreaterThan(20);
        return rows;
    }

    [Fact]
    public async Task Every_metric_of_docs_metrics_md_is_exported_from_the_start_and_no_other()
    {
        var text = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        var exported = TypeLine().Matches(text).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
        var table = Table();

        exported.Keys.Where(k => k.StartsWith("backstop_", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .ShouldBe(table.Select(r => r.Name).Order(StringComparer.Ordinal), "docs/metrics.md against /metrics");
        foreach (var row in table) exported[row.Name].ShouldBe(row.Type, row.Name);
    }

    [Fact]
    public async Task Each_series_docs_metrics_md_lists_at_start_exists_on_a_fresh_instance()
    {
        var text = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        var samples = text.Split('\n').Where(l => l.StartsWith("backstop_", StringComparison.Ordinal)).ToList();
        var channels = App.Services.GetServices<IOutboxChannel>().Select(c => c.Name).ToList();
        var jobs = App.Services.GetServices<RecurringJobDefinition>().Select(d => d.Id).ToList();
        foreach (var row in Table().Where(r => r.AtStart != "with the first count"))
        {
            var sampleName = row.Type == "histogram" ? row.Name + "_count" : row.Name;
            var series = samples.Where(s => s.StartsWith(sampleName + " ", StringComparison.Ordinal) || s.StartsWith(sampleName + "{", StringComparison.Ordinal)).ToList();
            series.ShouldNotBeEmpty($"{row.Name}: no series on a fresh instance");
            var expected = Backticked().Matches(row.AtStart).Select(m => m.Groups[1].Value).ToList();
            if (row.AtStart.Contains("every provider")) expected.AddRange(Providers);
            if (row.AtStart.Contains("every outbox channel")) expected.AddRange(channels);
            if (row.AtStart.Contains("every job")) expected.AddRange(jobs);
            if (row.AtStart.Contains("every event type")) expected.AddRange(EventTypes.All.Keys);
            foreach (var value in expected)
                series.ShouldContain(s => s.Contains($"=\"{value}\""), $"{row.Name}: no series with {value} at start");
        }
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex Backticked();
}

public sealed class MetricsTableTestsOnSqlite(SqliteApp<DefaultSetup> app) : MetricsTableTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class MetricsTableTestsOnPostgres(PostgresApp<DefaultSetup> app) : MetricsTableTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
