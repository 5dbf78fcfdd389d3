using Backstop.Features.Billing;

namespace Backstop.Features.Quota;

/// <summary>The answer of one metering operation: 200 with the reading, or 403 (refused, nothing counted) with the reading it was refused at.</summary>
internal sealed record MeterOutcome(int Status, UsageReading Reading, bool Replayed);

/// <summary>
/// Counting, one statement per decision. A consumption is <c>insert … on conflict … do update … where used + amount
/// &lt;= limit returning used</c>: the check and the increment cannot be separated by another request, on SQLite
/// (one writer) or PostgreSQL (the conflicting row is locked and re-read at its latest version, so concurrent
/// consumers queue on it and each sees the one before). No row back means refused. An idempotency key is looked up
/// first in the same transaction and, when counted, written once with its answer: on PostgreSQL the key is locked
/// first (a transaction-scoped advisory lock), so a concurrent duplicate waits until the first transaction ends, then
/// finds its row and answers what it stored; on SQLite the writer lock (<c>BEGIN IMMEDIATE</c>) serialises them. The statements are <see cref="UsageDecisions"/>'; the
/// API's requests reach them through <see cref="UsageGroupCommit"/> (many per transaction), a caller's own
/// transaction with its one change.
/// </summary>
internal sealed partial class UsageMeter(Db db, IOrganizationPlans plans, UsageScopes scopes, UsageGroupCommit groupCommit, UsageNotices notices, TimeProvider time) : IUsageMeter
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
        var rows = await UsageScopes.ReadAllAsync(connection, organizationId, ct);
        var scopes = rows
            .Where(r => r.OverrideLimit is not null || plan.Limits.ContainsKey(r.Metric.Name) || r.Metric.DefaultLimit is not null)
            .Select(r => Scope(r.Metric, organizationId, r.OverrideLimit, r.AnchorStart, r.AnchorEnd, plan, lenient: false))
            .ToList();
        if (scopes.Count == 0) return [];
        // Each metric has its own window, so its own period: the gauges' rows and the counters' from the earliest
        // current period start (at most a year back, a yearly window).
        var earliest = scopes.Where(s => !s.IsGauge).Select(s => s.PeriodStart).DefaultIfEmpty(BillingPeriods.GaugeStart).Min();
        var used = (await connection.QueryAsync<CounterRow>(new CommandDefinition(
            """
            select metric, period_start, used from usage_counters
            where organization_id = @organizationId and (period_start = @gauge or period_start >= @earliest)
            """,
            new { organizationId, gauge = BillingPeriods.GaugeStart, earliest }, cancellationToken: ct))).ToList();
        return scopes.Select(s => s.Reading(used.FirstOrDefault(u => u.Metric == s.Metric.Name && u.PeriodStart == s.PeriodStart)?.Used ?? 0)).ToList();
    }

    /// <summary>
    /// The API's consume and release, decided by the group commit with the other requests of its batch in one
    /// (durable) transaction: there the organization's plan and access, the metric and its override are read once per
    /// organization and metric of the batch (<see cref="UsageScopes"/>), a consumption is put to Billing's access
    /// gate (a creation metric as <see cref="GatedAction.Create"/>), and a request carrying a key that already has an
    /// answer is given that answer before any check refuses it. Only counted requests keep their key.
    /// </summary>
    /// <param name="actor">Who asked (the key's prefix) and <paramref name="requestId"/>: for a release's audit row.</param>
    public async Task<UsageReading> ApplyOwnAsync(string organizationId, string metric, string operation, long amount, string? idempotencyKey, CancellationToken ct,
        string? actor = null, string? requestId = null)
    {
        // The caller's keys live in their own space, so no tenant key can answer (or undo) one of Backstop's own
        // (meeting:{id}, audio:{id}).
        var key = idempotencyKey is null ? null : ApiKeyPrefix + idempotencyKey;
        var outcome = await groupCommit.SubmitAsync(new UsageRequest(organizationId, metric, operation, amount, key) { Actor = actor, RequestId = requestId });
        return outcome.Status == 200 ? outcome.Reading : throw Refused(outcome.Reading);
    }

    /// <summary>Prefix of the keys callers of the API send; Backstop's own slices use theirs (<c>meeting:</c>, <c>audio:</c>) unprefixed.</summary>
    public const string ApiKeyPrefix = "api:";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static ProblemException ManagedByBackstop(string metric) =>
        new(403, "metric_managed_by_backstop", $"'{metric}' is counted by Backstop from its own records; it cannot be consumed, released or set through the API.");

    /// <summary>The limit and the period of <paramref name="metric"/> for the organization now (see <see cref="UsageScopes.ResolveAsync"/>).</summary>
    public async Task<UsageScope> ResolveAsync(string organizationId, string metric, bool lenient, CancellationToken ct, bool apiWrite = false,
        OrganizationPlan? known = null)
    {
        await using var connection = await db.OpenAsync(ct);
        return await scopes.ResolveAsync(connection, null, organizationId, metric, lenient, apiWrite, known, ct);
    }

    public UsageScope Scope(MetricRow metric, string organizationId, long? overrideLimit, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd,
        OrganizationPlan plan, bool lenient) =>
        scopes.Scope(metric, organizationId, overrideLimit, anchorStart, anchorEnd, plan, lenient);

    /// <summary>The period of <paramref name="window"/> now, from the newer of the two anchors (Billing's subscription period, the renewal events this slice saw).</summary>
    public (DateTimeOffset Start, DateTimeOffset End) PeriodOf(string window, OrganizationPlan plan, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd) =>
        scopes.PeriodOf(window, plan, anchorStart, anchorEnd);

    public static (DateTimeOffset? Start, DateTimeOffset? End) NewerAnchor(OrganizationPlan plan, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd) =>
        UsageScopes.NewerAnchor(plan, anchorStart, anchorEnd);

    public static Task<long> UsedAsync(DbConnection connection, DbTransaction? tx, UsageScope scope, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            select coalesce(max(used), 0) from usage_counters
            where organization_id = @OrganizationId and metric = @metric and period_start = @PeriodStart
            """, new { scope.OrganizationId, metric = scope.Metric.Name, scope.PeriodStart }, tx, cancellationToken: ct));

    private async Task<MeterOutcome> ApplyAsync(DbConnection connection, DbTransaction tx, UsageScope scope, string operation, long amount,
        string? key, CancellationToken ct) =>
        (await UsageDecisions.ApplyAsync(connection, tx, [new UsageChange(scope, operation, amount, key)], time.GetUtcNow(), ct, notices))[0].Get();

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
}
