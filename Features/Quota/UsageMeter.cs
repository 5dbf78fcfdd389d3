using System.Data.Common;
using Backstop.Features.Billing;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Dapper;

namespace Backstop.Features.Quota;

/// <summary>The answer of one metering operation: 200 with the reading, or 403 (refused, nothing counted) with the reading it was refused at.</summary>
internal sealed record MeterOutcome(int Status, UsageReading Reading, bool Replayed);

internal static class MeterOperations
{
    public const string Consume = "consume";
    public const string Record = "record";
    public const string Release = "release";
}

/// <summary>
/// Counting, one statement per decision. A consumption is <c>insert … on conflict … do update … where used + amount
/// &lt;= limit returning used</c>: the check and the increment cannot be separated by another request, on SQLite
/// (one writer) or PostgreSQL (the conflicting row is locked and re-read at its latest version, so concurrent
/// consumers queue on it and each sees the one before). No row back means refused. An idempotency key is claimed first
/// in the same transaction (<c>insert … on conflict do nothing</c>): on PostgreSQL a concurrent duplicate waits on the
/// primary key until the first transaction ends, then finds its row and answers what it stored; on SQLite the
/// writer lock (<c>BEGIN IMMEDIATE</c>) serialises them. The statements are <see cref="UsageDecisions"/>'; the
/// API's requests reach them through <see cref="UsageGroupCommit"/> (many per transaction), a caller's own
/// transaction with its one change.
/// </summary>
internal sealed class UsageMeter(Db db, IOrganizationPlans plans, IAccessGate gate, UsageGroupCommit groupCommit, TimeProvider time) : IUsageMeter
{
    public Task<UsageScope> PrepareAsync(string organizationId, string metric, bool requireLimit, CancellationToken ct) =>
        ResolveAsync(organizationId, metric, lenient: !requireLimit, ct);

    public async Task<UsageReading> ConsumeAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long amount,
        string? idempotencyKey, CancellationToken ct)
    {
        var outcome = await ApplyAsync(connection, transaction, scope, MeterOperations.Consume, amount, idempotencyKey, ct);
        return outcome.Status == 200 ? outcome.Reading : throw Refused(outcome.Reading);
    }

    public async Task<UsageReading> RecordAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long amount,
        string idempotencyKey, CancellationToken ct) =>
        (await ApplyAsync(connection, transaction, scope, MeterOperations.Record, amount, idempotencyKey, ct)).Reading;

    public async Task<bool> UndoAsync(DbConnection connection, DbTransaction transaction, string organizationId, string metric,
        string idempotencyKey, CancellationToken ct)
    {
        var consumed = await connection.QuerySingleOrDefaultAsync<Consumed>(new CommandDefinition(
            """
            delete from usage_idempotency
            where organization_id = @organizationId and metric = @metric and idempotency_key = @idempotencyKey
              and operation in ('consume', 'record') and status = 200
            returning amount, period_start
            """, new { organizationId, metric, idempotencyKey }, transaction, cancellationToken: ct));
        if (consumed is null) return false;
        await connection.ExecuteAsync(new CommandDefinition(QuotaSql.Decrement,
            new { organizationId, metric, consumed.PeriodStart, consumed.Amount, now = time.GetUtcNow() }, transaction, cancellationToken: ct));
        return true;
    }

    public async Task<UsageReading> SetGaugeAsync(DbConnection connection, DbTransaction transaction, UsageScope scope, long value,
        bool enforceLimit, CancellationToken ct)
    {
        if (!scope.IsGauge) throw NotAGauge(scope.Metric.Name);
        var used = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(QuotaSql.SetGauge, new
        {
            organizationId = scope.OrganizationId, metric = scope.Metric.Name, periodStart = scope.PeriodStart, periodEnd = scope.PeriodEnd, value,
            cap = enforceLimit ? scope.Limit : -1, now = time.GetUtcNow(),
        }, transaction, cancellationToken: ct));
        return used is { } u ? scope.Reading(u) : throw Refused(scope.Reading(value));
    }

    public async Task<UsageReading> CurrentAsync(string organizationId, string metric, CancellationToken ct)
    {
        var scope = await ResolveAsync(organizationId, metric, lenient: false, ct);
        await using var connection = await db.OpenAsync(ct);
        return scope.Reading(await UsedAsync(connection, null, scope, ct));
    }

    /// <summary>Every metric the organization has a limit for, with its usage now.</summary>
    public async Task<IReadOnlyList<UsageReading>> ListAsync(string organizationId, CancellationToken ct)
    {
        var plan = await plans.GetAsync(organizationId, ct);
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<ScopeRow>(new CommandDefinition(QuotaSql.ScopeAll, new { organizationId }, cancellationToken: ct))).ToList();
        var scopes = rows
            .Where(r => r.OverrideLimit is not null || plan.Limits.ContainsKey(r.Name) || r.DefaultLimit is not null)
            .Select(r => Scope(r.Metric, organizationId, r.OverrideLimit, r.AnchorStart, r.AnchorEnd, plan, lenient: false))
            .ToList();
        if (scopes.Count == 0) return [];
        // Every counter of one organization shares its period; gauges share theirs.
        var current = scopes.FirstOrDefault(s => !s.IsGauge)?.PeriodStart ?? BillingPeriods.GaugeStart;
        var used = (await connection.QueryAsync<CounterRow>(new CommandDefinition(
            "select metric, period_start, used from usage_counters where organization_id = @organizationId and period_start in (@gauge, @current)",
            new { organizationId, gauge = BillingPeriods.GaugeStart, current }, cancellationToken: ct))).ToList();
        return scopes.Select(s => s.Reading(used.FirstOrDefault(u => u.Metric == s.Metric.Name && u.PeriodStart == s.PeriodStart)?.Used ?? 0)).ToList();
    }

    /// <summary>
    /// The API's consume and release: the limit and period are read first (outside any write lock), a consumption is
    /// put to Billing's access gate (a creation metric as <see cref="GatedAction.Create"/>), then the group commit
    /// decides it with the other requests of its batch in one (durable) transaction; a refusal is stored under the
    /// key too, so a retry is answered the same.
    /// </summary>
    public async Task<UsageReading> ApplyOwnAsync(string organizationId, string metric, string operation, long amount, string? idempotencyKey, CancellationToken ct)
    {
        var scope = await ResolveAsync(organizationId, metric, lenient: false, ct);
        if (operation == MeterOperations.Release && !scope.IsGauge) throw NotAGauge(metric);
        if (operation == MeterOperations.Consume)
            await gate.EnsureAllowedAsync(organizationId, scope.Metric.Creation ? GatedAction.Create : GatedAction.Use, metric, ct);
        var outcome = await groupCommit.SubmitAsync(new UsageChange(scope, operation, amount, idempotencyKey));
        return outcome.Status == 200 ? outcome.Reading : throw Refused(outcome.Reading);
    }

    /// <summary>The limit and the period of <paramref name="metric"/> for the organization now.</summary>
    /// <param name="lenient">A metric the organization has no limit for is read as unlimited instead of 404 (for usage that is only recorded).</param>
    public async Task<UsageScope> ResolveAsync(string organizationId, string metric, bool lenient, CancellationToken ct)
    {
        // Billing's read first, on its own connection: holding ours meanwhile would take two pooled connections per request.
        var plan = await plans.GetAsync(organizationId, ct);
        ScopeRow? row;
        await using (var connection = await db.OpenAsync(ct))
            row = await connection.QuerySingleOrDefaultAsync<ScopeRow>(new CommandDefinition(QuotaSql.Scope,
                new { organizationId, metric }, cancellationToken: ct));
        if (row is null) throw UnknownMetric(metric, declared: false);
        return Scope(row.Metric, organizationId, row.OverrideLimit, row.AnchorStart, row.AnchorEnd, plan, lenient);
    }

    public UsageScope Scope(MetricRow metric, string organizationId, long? overrideLimit, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd,
        OrganizationPlan plan, bool lenient)
    {
        long? limit = overrideLimit ?? (plan.Limits.TryGetValue(metric.Name, out var planned) ? planned : metric.DefaultLimit);
        if (limit is null && !lenient) throw UnknownMetric(metric.Name, declared: true);
        if (metric.IsGauge) return new UsageScope(organizationId, metric.ToDeclaration(), limit ?? -1, BillingPeriods.GaugeStart, BillingPeriods.GaugeStart);
        var (start, end) = PeriodOf(plan, anchorStart, anchorEnd);
        return new UsageScope(organizationId, metric.ToDeclaration(), limit ?? -1, start, end);
    }

    /// <summary>The newer of the two anchors (Billing's subscription period, the renewal events this slice saw), rolled forward to now.</summary>
    public (DateTimeOffset Start, DateTimeOffset End) PeriodOf(OrganizationPlan plan, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd)
    {
        var (s, e) = plan.PeriodStart is { } ps && plan.PeriodEnd is { } pe && (anchorStart is null || ps > anchorStart)
            ? (ps, pe)
            : (anchorStart, anchorEnd);
        return BillingPeriods.At(time.GetUtcNow(), s, e);
    }

    public static Task<long> UsedAsync(DbConnection connection, DbTransaction? tx, UsageScope scope, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            select coalesce(max(used), 0) from usage_counters
            where organization_id = @OrganizationId and metric = @metric and period_start = @PeriodStart
            """, new { scope.OrganizationId, metric = scope.Metric.Name, scope.PeriodStart }, tx, cancellationToken: ct));

    private async Task<MeterOutcome> ApplyAsync(DbConnection connection, DbTransaction tx, UsageScope scope, string operation, long amount,
        string? key, CancellationToken ct) =>
        (await UsageDecisions.ApplyAsync(connection, tx, [new UsageChange(scope, operation, amount, key)], time.GetUtcNow(), ct))[0].Get();

    public static ProblemException Refused(UsageReading reading) =>
        new(403, "quota_exceeded", reading.PeriodEnd is { } end
            ? $"The {reading.Metric} limit of {reading.Limit} is reached ({reading.Used} used); it starts again at {end:yyyy-MM-dd HH:mm} UTC."
            : $"The {reading.Metric} limit of {reading.Limit} is reached ({reading.Used} used).")
        {
            Extensions = new Dictionary<string, object?>
            {
                ["metric"] = reading.Metric, ["used"] = reading.Used, ["limit"] = reading.Limit, ["resetsAt"] = reading.PeriodEnd,
            },
        };

    public static ProblemException UnknownMetric(string metric, bool declared) =>
        new(404, "unknown_metric", declared
            ? $"The organization's plan has no limit for '{metric}' and the metric has no default limit."
            : $"No metric '{metric}' is declared.");

    private static ProblemException NotAGauge(string metric) =>
        new(409, "metric_not_a_gauge", $"'{metric}' is a counter: only gauges can be released or set.");

    private sealed record CounterRow
    {
        public string Metric { get; init; } = "";
        public DateTimeOffset PeriodStart { get; init; }
        public long Used { get; init; }
    }

    private sealed record Consumed
    {
        public long Amount { get; init; }
        public DateTimeOffset PeriodStart { get; init; }
    }

    private sealed record ScopeRow
    {
        public string Name { get; init; } = "";
        public string Kind { get; init; } = "";
        public string Description { get; init; } = "";
        public long? DefaultLimit { get; init; }
        public bool Creation { get; init; }
        public bool BuiltIn { get; init; }
        public long? OverrideLimit { get; init; }
        public DateTimeOffset? AnchorStart { get; init; }
        public DateTimeOffset? AnchorEnd { get; init; }

        public MetricRow Metric => new() { Name = Name, Kind = Kind, Description = Description, DefaultLimit = DefaultLimit, Creation = Creation, BuiltIn = BuiltIn };
    }
}
