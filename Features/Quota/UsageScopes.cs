using System.Data.Common;
using Backstop.Features.Billing;
using Backstop.Infrastructure.Errors;
using Dapper;

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
/// the group commit reads them once per organization and metric of a batch, inside the batch's transaction, so the
/// hot path pays no read of its own and the reads see exactly what the decision sees.
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
        var row = await connection.QuerySingleOrDefaultAsync<ScopeRow>(new CommandDefinition(QuotaSql.Scope,
            new { organizationId, metric }, tx, cancellationToken: ct));
        if (row is null) throw UsageMeter.UnknownMetric(metric, declared: false);
        if (apiWrite && row.BuiltIn) throw UsageMeter.ManagedByBackstop(metric);
        return Scope(row.Metric, organizationId, row.OverrideLimit, row.AnchorStart, row.AnchorEnd, plan, lenient);
    }

    /// <summary>
    /// The reads of one batch, each made once: the plan and access of each organization, the scope of each
    /// (organization, metric). A refusal (unknown metric, not a gauge, the gate) is kept too and thrown to every
    /// request it applies to.
    /// </summary>
    public sealed class BatchReads
    {
        internal Dictionary<string, OrganizationPlan> Plans { get; } = new(StringComparer.Ordinal);
        internal Dictionary<string, AccessStatus> Access { get; } = new(StringComparer.Ordinal);
        internal Dictionary<(string, string), (UsageScope? Scope, ProblemException? Problem)> Scopes { get; } = new();
    }

    /// <summary>
    /// The change an API request asks for, checked as the API checks it: a built-in metric is refused, only a gauge
    /// is released, a consumption passes Billing's gate. Throws the problem that refuses it.
    /// </summary>
    public async Task<UsageChange> ResolveRequestAsync(DbConnection connection, DbTransaction tx, UsageRequest request, BatchReads reads, CancellationToken ct)
    {
        var org = request.OrganizationId;
        if (!reads.Scopes.TryGetValue((org, request.Metric), out var resolved))
        {
            if (!reads.Plans.TryGetValue(org, out var plan)) reads.Plans[org] = plan = await plans.GetAsync(connection, tx, org, ct);
            try
            {
                resolved = (await ResolveAsync(connection, tx, org, request.Metric, lenient: false, apiWrite: true, plan, ct), null);
            }
            catch (ProblemException problem)
            {
                resolved = (null, problem);
            }
            reads.Scopes[(org, request.Metric)] = resolved;
        }
        if (resolved.Problem is { } refused) throw refused;
        var scope = resolved.Scope!;
        if (request.Operation == MeterOperations.Release && !scope.IsGauge)
            throw new ProblemException(409, "metric_not_a_gauge", $"'{request.Metric}' is a counter: only gauges can be released or set.");
        if (request.Operation == MeterOperations.Consume)
        {
            if (!reads.Access.TryGetValue(org, out var access)) reads.Access[org] = access = await gate.GetAsync(connection, tx, org, ct);
            if (gate.Refusal(access, scope.Metric.Creation ? GatedAction.Create : GatedAction.Use, request.Metric) is { } refusal) throw refusal;
        }
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

/// <summary>A metric's declaration with the organization's override and usage anchor, as <see cref="QuotaSql.Scope"/> reads them.</summary>
internal sealed record ScopeRow
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
    public long? OverrideLimit { get; init; }
    public DateTimeOffset? AnchorStart { get; init; }
    public DateTimeOffset? AnchorEnd { get; init; }

    public MetricRow Metric => new()
    {
        Name = Name, Kind = Kind, Description = Description, DefaultLimit = DefaultLimit, Creation = Creation, BuiltIn = BuiltIn,
        UsageWindow = UsageWindow, DisplayName = DisplayName, Unit = Unit, Thresholds = Thresholds, LimitMode = LimitMode,
    };
}
