using System.Globalization;
using System.Net;
using System.Text;
using Backstop.Infrastructure.Stats;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// One small chart of the overview: a count per hour over the last 24 hours, stacked by series (an outcome or a
/// channel), drawn on the server as SVG (no script), with the same figures as a table for those who cannot see it.
/// </summary>
/// <param name="Id">Unique on the page: the SVG's title and description are named by it.</param>
/// <param name="Title">What is counted ("Webhooks received from stripe").</param>
/// <param name="Hours">The 24 hours shown, oldest first.</param>
/// <param name="Series">The series in stacking order (bottom first).</param>
/// <param name="Counts">Each (hour, series) count; absent is 0.</param>
public sealed record HourlyChart(string Id, string Title, IReadOnlyList<DateTimeOffset> Hours, IReadOnlyList<string> Series,
    IReadOnlyDictionary<(DateTimeOffset Hour, string Series), long> Counts)
{
    private const int BarWidth = 16;
    private const int Step = 20;
    private const int Left = 44;
    private const int Top = 10;
    private const int PlotHeight = 100;
    private const int Height = Top + PlotHeight + 24;

    /// <summary>Colours of known outcomes (each 3:1 or more against white, as WCAG asks of graphics); others take the palette in turn.</summary>
    private static readonly Dictionary<string, string> OutcomeColours = new(StringComparer.Ordinal)
    {
        ["processed"] = "#1a6b32", ["sent"] = "#1a6b32",
        ["ignored"] = "#5c6670", ["duplicate"] = "#0b5cad",
        ["failed"] = "#a35200", ["retry"] = "#a35200",
        ["dead"] = "#a1161b", ["permanent_failure"] = "#a1161b", ["attempts_exhausted"] = "#6e0f13", ["refused"] = "#7b3294",
    };

    private static readonly string[] Palette = ["#0b5cad", "#1a6b32", "#a35200", "#7b3294", "#a1161b", "#00727a", "#5c6670", "#8a5a00"];

    public long Count(DateTimeOffset hour, string series) => Counts.TryGetValue((hour, series), out var n) ? n : 0;

    public long HourTotal(DateTimeOffset hour) => Series.Sum(s => Count(hour, s));

    public long Total => Hours.Sum(HourTotal);

    public string ColourOf(string series)
    {
        if (OutcomeColours.TryGetValue(series, out var known)) return known;
        var index = 0;
        foreach (var s in Series)
        {
            if (s == series) break;
            if (!OutcomeColours.ContainsKey(s)) index++;
        }
        return Palette[index % Palette.Length];
    }

    public static string HourLabel(DateTimeOffset hour) => hour.UtcDateTime.ToString("HH:00", CultureInfo.InvariantCulture);

    /// <summary>One sentence of what the chart shows: its total per series and its busiest hour.</summary>
    public string Description
    {
        get
        {
            var perSeries = string.Join(", ", Series.Select(s => $"{s} {Hours.Sum(h => Count(h, s))}"));
            var busiest = Hours.OrderByDescending(HourTotal).ThenBy(h => h).First();
            return $"{Total} in the 24 hours from {HourLabel(Hours[0])} to {HourLabel(Hours[^1])} UTC ({perSeries}); busiest hour {HourLabel(busiest)} UTC with {HourTotal(busiest)}.";
        }
    }

    /// <summary>The chart as inline SVG: a bar per hour, stacked by series, the scale's top and the first, middle and last hours labelled.</summary>
    public string Svg()
    {
        var max = Math.Max(1, Hours.Max(HourTotal));
        var width = Left + Hours.Count * Step + 4;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg class=\"chart\" role=\"img\" aria-labelledby=\"{Id}-title {Id}-desc\" viewBox=\"0 0 {width} {Height}\" width=\"{width}\" height=\"{Height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append(CultureInfo.InvariantCulture, $"<title id=\"{Id}-title\">{E(Title)}</title><desc id=\"{Id}-desc\">{E(Description)}</desc>");
        var baseline = Top + PlotHeight;
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left - 2}\" y1=\"{baseline}\" x2=\"{width - 2}\" y2=\"{baseline}\" stroke=\"#4a535d\" stroke-width=\"1\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{Top + 8}\" text-anchor=\"end\" font-size=\"11\" fill=\"#4a535d\">{max}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{baseline}\" text-anchor=\"end\" font-size=\"11\" fill=\"#4a535d\">0</text>");
        for (var i = 0; i < Hours.Count; i++)
        {
            var hour = Hours[i];
            var x = Left + i * Step;
            // Stacked from the baseline up; heights are rounded on the running sum so the stack's top is the hour's total.
            long below = 0;
            foreach (var series in Series)
            {
                var n = Count(hour, series);
                if (n == 0) continue;
                var y0 = baseline - (int)Math.Round((double)below * PlotHeight / max);
                var y1 = baseline - (int)Math.Round((double)(below + n) * PlotHeight / max);
                below += n;
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect x=\"{x}\" y=\"{y1}\" width=\"{BarWidth}\" height=\"{Math.Max(1, y0 - y1)}\" fill=\"{ColourOf(series)}\"><title>{HourLabel(hour)} UTC, {E(series)}: {n}</title></rect>");
            }
            if (i == 0 || i == Hours.Count / 2 || i == Hours.Count - 1)
                svg.Append(CultureInfo.InvariantCulture,
                    $"<text x=\"{x + BarWidth / 2}\" y=\"{baseline + 16}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#4a535d\">{HourLabel(hour)}</text>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>The 24 hours ending with the one holding <paramref name="now"/>, oldest first.</summary>
    public static IReadOnlyList<DateTimeOffset> Last24Hours(DateTimeOffset now)
    {
        var last = HourlyCounts.HourOf(now);
        return Enumerable.Range(0, 24).Select(i => last.AddHours(i - 23)).ToList();
    }

    /// <summary>
    /// The overview's charts from the hourly counts: webhooks received per provider by outcome (one chart per provider
    /// with traffic), outbox sends by channel, outbound event deliveries by outcome. A kind without traffic has no chart.
    /// </summary>
    public static IReadOnlyList<HourlyChart> Build(IReadOnlyList<HourlyCount> counts, DateTimeOffset now)
    {
        var hours = Last24Hours(now);
        var charts = new List<HourlyChart>();
        foreach (var provider in counts.Where(c => c.Kind == HourlyCountKinds.Webhook).Select(c => c.Key).Distinct().Order(StringComparer.Ordinal))
            charts.Add(Of($"chart-webhook-{provider}", $"Webhooks received from {provider}, per hour by outcome", hours,
                counts.Where(c => c.Kind == HourlyCountKinds.Webhook && c.Key == provider), c => c.Outcome));
        if (counts.Any(c => c.Kind == HourlyCountKinds.Outbox))
            charts.Add(Of("chart-outbox", "Outbox sends, per hour by channel", hours, counts.Where(c => c.Kind == HourlyCountKinds.Outbox), c => c.Key));
        if (counts.Any(c => c.Kind == HourlyCountKinds.EventDelivery))
            charts.Add(Of("chart-events", "Outbound event deliveries, per hour by outcome", hours,
                counts.Where(c => c.Kind == HourlyCountKinds.EventDelivery), c => c.Outcome));
        return charts;
    }

    private static HourlyChart Of(string id, string title, IReadOnlyList<DateTimeOffset> hours, IEnumerable<HourlyCount> rows, Func<HourlyCount, string> seriesOf)
    {
        var counts = new Dictionary<(DateTimeOffset, string), long>();
        foreach (var row in rows)
        {
            var key = (HourlyCounts.HourOf(row.Hour), seriesOf(row));
            counts[key] = counts.GetValueOrDefault(key) + row.Count;
        }
        var series = counts.Keys.Select(k => k.Item2).Distinct().Order(StringComparer.Ordinal).ToList();
        return new HourlyChart(IdOf(id), title, hours, series, counts);
    }

    /// <summary>An HTML id from a name that may hold anything (a provider key is text in a table).</summary>
    private static string IdOf(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? char.ToLowerInvariant(c) : '-').ToArray());
}
