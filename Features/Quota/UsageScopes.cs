using Backstop.Features.Billing;

namespace Backstop.Features.Quota;

/// <summary>One API metering request as the endpoint received it, resolved by the group commit inside its transaction.</summary>
internal sealed record UsageRequest(string OrganizationId, string Metric, string Operation, long Amount, string? Key)
{
    /// <summary>Who asked (for the audit row of a release made through the API): the key's prefix.</summary>
    public string? Actor { get; init; }

    /// <summary>The request's id, for the audit row.</summary>
    public string? RequestId { get; init; }
}

/// <summary>
/// What a metering decision needs before its one statement: the metric's declaration, the organization's limit of it
/// (override, plan, default) and the period of its window, and Billing's access gate. Read on the caller's connection;
/// the group commit reads them for a whole batch at once (<see cref="ReadBatchAsync"/>: one query per kind, whatever
/// the number of organizations), inside the batch's transaction, so the hot path pays no read of its own and the
/// reads see exactly what the decision sees.
/// </summary>
internal sealed class UsageScopes(IOrganizationPlans plans, IAccessGate gate, TimeProvider time)
{
    /// <summary>The limit and the period of <paramref name="metric"/> for the organization now.</summary>
    /// <param name="lenient">A metric the organization has no limit for is read as unlimited instead of 404 (for usage that is only recorded).</param>
    /// <param name="apiWrite">A write through the usage API: a built-in metric (Backstop counts it) is 403 <c>metric_managed_by_backstop</c>.</param>
    /// <param name="known">The organization's plan when the caller already read it.</param>
    public async Task<UsageScope> ResolveAsync(DbConnection connection, DbTransaction? tx, string organizationId, string metric, bool lenient, bool apiWrite,
        OrganizationPlan? known, CancellationToken ct)
    {
        var plan = known ?? await plans.GetAsync(connection, tx, organizationId, ct);
        var row = (await ScopeRow.ReadAsync(connection, tx, QuotaSql.Scope, new { organizationId, metric }, ct)).SingleOrDefault();
        return FromRow(row, metric, plan, lenient, apiWrite);
    }

    /// <summary>Every declared metric with the organization's override of it and its anchor (<see cref="QuotaSql.ScopeAll"/>).</summary>
    public static Task<List<ScopeRow>> ReadAllAsync(DbConnection connection, string organizationId, CancellationToken ct) =>
        ScopeRow.ReadAsync(connection, null, QuotaSql.ScopeAll, new { organizationId }, ct);

    private UsageScope FromRow(ScopeRow? row, string metric, OrganizationPlan plan, bool lenient, bool apiWrite)
    {
        if (row is null) throw UsageMeter.UnknownMetric(metric, declared: false);
        if (apiWrite && row.Metric.BuiltIn) throw UsageMeter.ManagedByBackstop(metric);
        return Scope(row.Metric, row.OrganizationId, row.OverrideLimit, row.AnchorStart, row.AnchorEnd, plan, lenient);
    }

    /// <summary>
    /// The reads of one batch, each made once for the whole batch: the plan and access of each organization, the
    /// scope of each (organization, metric). A refusal (unknown metric, built-in metric, no limit) is kept too and
    /// thrown to every request it applies to.
    /// </summary>
    public sealed class BatchReads
    {
        internal Dictionary<string, OrganizationPlan> Plans { get; } = new(StringComparer.Ordinal);
        internal Dictionary<string, AccessStatus> Access { get; } = new(StringComparer.Ordinal);
        internal Dictionary<(string, string), (UsageScope? Scope, ProblemException? Problem)> Scopes { get; } = new();
    }

    /// <summary>
    /// Everything the API requests of a batch need before their decisions, in one query per kind whatever the number
    /// of organizations (the batch's transaction, so the reads see what the decisions see): Billing's plans of all the
    /// batch's organizations (<see cref="IOrganizationPlans.GetManyAsync"/>), the scopes of all its (organization,
    /// metric) pairs (<see cref="QuotaSql.ScopeBatchPostgres"/>: metric, override, anchor), and Billing's access of the
    /// organizations with a consumption to gate (<see cref="IAccessGate.GetManyAsync"/>).
    /// </summary>
    public async Task<BatchReads> ReadBatchAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<UsageRequest> requests, CancellationToken ct)
    {
        var reads = new BatchReads();
        if (requests.Count == 0) return reads;
        var organizations = requests.Select(r => r.OrganizationId).Distinct(StringComparer.Ordinal).ToArray();
        foreach (var (id, plan) in await plans.GetManyAsync(connection, tx, organizations, ct)) reads.Plans[id] = plan;

        var pairs = requests.Select(r => (r.OrganizationId, r.Metric)).Distinct().ToArray();
        var rows = DialectSql.Of(connection) == Dialect.Postgres
            ? await ScopeRow.ReadAsync(connection, tx, QuotaSql.ScopeBatchPostgres,
                new { orgs = pairs.Select(p => p.OrganizationId).ToArray(), metrics = pairs.Select(p => p.Metric).ToArray() }, ct)
            : await ScopeRow.ReadAsync(connection, tx, QuotaSql.ScopeBatchSqlite,
                new { pairs = JsonSerializer.Serialize(pairs.Select(p => new[] { p.OrganizationId, p.Metric })) }, ct);
        var found = new Dictionary<(string, string), ScopeRow>();
        foreach (var row in rows) found[(row.OrganizationId, row.Metric.Name)] = row;
        foreach (var pair in pairs)
        {
            try
            {
                reads.Scopes[pair] = (FromRow(found.GetValueOrDefault(pair), pair.Metric, reads.Plans[pair.OrganizationId], lenient: false, apiWrite: true), null);
            }
            catch (ProblemException problem)
            {
                reads.Scopes[pair] = (null, problem);
            }
        }

        // Only a consumption passes the gate, and only once its metric resolved (a refused one never reaches it).
        var gated = requests.Where(r => r.Operation == MeterOperations.Consume && reads.Scopes[(r.OrganizationId, r.Metric)].Scope is not null)
            .Select(r => r.OrganizationId).Distinct(StringComparer.Ordinal).ToArray();
        if (gated.Length > 0)
            foreach (var (id, access) in await gate.GetManyAsync(connection, tx, gated, ct)) reads.Access[id] = access;
        return reads;
    }

    /// <summary>
    /// The change an API request asks for, from its batch's reads (<see cref="ReadBatchAsync"/>), checked as the API
    /// checks it: a built-in metric is refused, only a gauge is released, a consumption passes Billing's gate. Throws
    /// the problem that refuses it.
    /// </summary>
    public UsageChange Resolve(UsageRequest request, BatchReads reads)
    {
        var org = request.OrganizationId;
        var resolved = reads.Scopes[(org, request.Metric)];
        if (resolved.Problem is { } refused) throw refused;
        var scope = resolved.Scope!;
        if (request.Operation == MeterOperations.Release && !scope.IsGauge)
            throw new ProblemException(409, "metric_not_a_gauge", $"'{request.Metric}' is a counter: only gauges can be released or set.");
        if (request.Operation == MeterOperations.Consume
            && gate.Refusal(reads.Access[org], scope.Metric.Creation ? GatedAction.Create : GatedAction.Use, request.Metric) is { } refusal)
            throw refusal;
        return new UsageChange(scope, request.Operation, request.Amount, request.Key) { Actor = request.Actor, RequestId = request.RequestId };
    }

    /// <summary>
    /// A request refused before its decision: when its key already holds a counted answer, that answer (a retry of a
    /// counted consumption is answered even after the organization went past due or the metric's limit changed), or
    /// 409 for another operation or amount under the key; otherwise the refusal.
    /// </summary>
    public static async Task<UsageDecision> StoredOrRefusedAsync(DbConnection connection, DbTransaction tx, UsageRequest request, ProblemException refusal,
        CancellationToken ct)
    {
        if (request.Key is null) return new UsageDecision(null, refusal);
        var stored = await StoredAnswer.ReadAsync(connection, tx, request.OrganizationId, request.Metric, request.Key, ct);
        if (stored is null) return new UsageDecision(null, refusal);
        return stored.Operation == request.Operation && stored.Amount == request.Amount
            ? new UsageDecision(new MeterOutcome((int)stored.Status, stored.Reading(), true), null)
            : new UsageDecision(null, new ProblemException(409, "idempotency_key_reused",
                $"This idempotencyKey was first used to {stored.Operation} {stored.Amount} of {request.Metric}; a key answers one request only."));
    }

    public UsageScope Scope(MetricRow metric, string organizationId, long? overrideLimit, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd,
        OrganizationPlan plan, bool lenient)
    {
        long? limit = overrideLimit ?? (plan.Limits.TryGetValue(metric.Name, out var planned) ? planned : metric.DefaultLimit);
        if (limit is null && !lenient) throw UsageMeter.UnknownMetric(metric.Name, declared: true);
        if (metric.IsGauge) return new UsageScope(organizationId, metric.ToDeclaration(), limit ?? -1, BillingPeriods.GaugeStart, BillingPeriods.GaugeStart);
        var (start, end) = PeriodOf(metric.UsageWindow, plan, anchorStart, anchorEnd);
        return new UsageScope(organizationId, metric.ToDeclaration(), limit ?? -1, start, end);
    }

    /// <summary>The period of <paramref name="window"/> now, from the newer of the two anchors (Billing's subscription period, the renewal events this slice saw).</summary>
    public (DateTimeOffset Start, DateTimeOffset End) PeriodOf(string window, OrganizationPlan plan, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd)
    {
        var (s, e) = NewerAnchor(plan, anchorStart, anchorEnd);
        return BillingPeriods.ForWindow(window, time.GetUtcNow(), s, e);
    }

    public static (DateTimeOffset? Start, DateTimeOffset? End) NewerAnchor(OrganizationPlan plan, DateTimeOffset? anchorStart, DateTimeOffset? anchorEnd) =>
        plan.PeriodStart is { } ps && plan.PeriodEnd is { } pe && (anchorStart is null || ps > anchorStart)
            ? (ps, pe)
            : (anchorStart, anchorEnd);
}

/// <summary>
/// A metric's declaration (<see cref="MetricRow"/>, the same columns) with an organization's override of it and its
/// usage anchor, as <see cref="QuotaSql.Scope"/> and its batch forms read them: Dapper splits each row at
/// <c>organization_id</c>, which is never null, so the anchors are kept when there is no override.
/// </summary>
internal sealed record ScopeRow
{
    public MetricRow Metric { get; init; } = new();
    public string OrganizationId { get; init; } = "";
    public long? OverrideLimit { get; init; }
    public DateTimeOffset? AnchorStart { get; init; }
    public DateTimeOffset? AnchorEnd { get; init; }

    public static async Task<List<ScopeRow>> ReadAsync(DbConnection connection, DbTransaction? tx, string sql, object parameters, CancellationToken ct) =>
        (await connection.QueryAsync<MetricRow, ScopeRow, ScopeRow>(new CommandDefinition(sql, parameters, tx, cancellationToken: ct),
            (metric, scope) => scope with { Metric = metric }, QuotaSql.ScopeSplit)).AsList();
}
