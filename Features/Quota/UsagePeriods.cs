namespace Backstop.Features.Quota;

internal sealed class UsagePeriods(TimeProvider time) : IUsagePeriods
{
    public UsagePeriod PeriodOf(string window, DateTimeOffset now, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd)
    {
        var (start, end) = BillingPeriods.ForWindow(window, now, anchorStart, anchorEnd);
        return new UsagePeriod(start, end);
    }

    public async Task<IReadOnlyList<MetricUsage>> UsageAsync(DbConnection connection, DbTransaction? transaction, string organizationId,
        DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var metrics = (await connection.QueryAsync<MetricRow>(new CommandDefinition(
            $"select {MetricRow.Columns} from usage_metrics order by name", transaction: transaction, cancellationToken: ct))).AsList();
        var stored = await connection.QuerySingleOrDefaultAsync<Anchor>(new CommandDefinition(
            "select period_start, period_end from usage_anchors where organization_id = @organizationId",
            new { organizationId }, transaction, cancellationToken: ct));
        // The same rule as a consumption's: the newer of Billing's period and the last renewal Quota saw.
        var (s, e) = anchorStart is { } a && anchorEnd is { } b && (stored is null || a > stored.PeriodStart)
            ? (a, b)
            : stored is not null ? (stored.PeriodStart, stored.PeriodEnd) : (anchorStart, anchorEnd);
        var periods = metrics.ToDictionary(m => m.Name, m => PeriodOf(m.IsGauge ? UsageWindows.None : m.UsageWindow, now, s, e));
        var earliest = periods.Values.Where(p => p.Start != BillingPeriods.GaugeStart).Select(p => p.Start).DefaultIfEmpty(BillingPeriods.GaugeStart).Min();
        var rows = (await connection.QueryAsync<Row>(new CommandDefinition(
            """
            select metric, period_start, used from usage_counters
            where organization_id = @organizationId and (period_start = @gauge or period_start >= @earliest)
            """, new { organizationId, gauge = BillingPeriods.GaugeStart, earliest }, transaction, cancellationToken: ct))).AsList();
        return metrics.Select(m => new MetricUsage(m.ToDeclaration(),
            rows.FirstOrDefault(r => r.Metric == m.Name && r.PeriodStart == periods[m.Name].Start)?.Used ?? 0, periods[m.Name])).ToList();
    }

    private sealed record Anchor
    {
        public DateTimeOffset PeriodStart { get; init; }
        public DateTimeOffset PeriodEnd { get; init; }
    }

    private sealed record Row
    {
        public string Metric { get; init; } = "";
        public DateTimeOffset PeriodStart { get; init; }
        public long Used { get; init; }
    }
}
