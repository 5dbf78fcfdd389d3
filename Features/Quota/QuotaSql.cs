namespace Backstop.Features.Quota;

/// <summary>The slice's statements that more than one file runs; all portable to SQLite and PostgreSQL.</summary>
internal static class QuotaSql
{
    /// <summary>The column <see cref="ScopeRow"/> starts at.</summary>
    public const string ScopeSplit = "organization_id";

    // Static fields initialise in the order written: the select before the statements made of it.
    private static readonly string ScopeSelect =
        $"""
        select {MetricRow.ColumnsOf("m")},
               @organizationId as organization_id, o.limit_value as override_limit, a.period_start as anchor_start, a.period_end as anchor_end
        from usage_metrics m
        left join usage_limit_overrides o on o.organization_id = @organizationId and o.metric = m.name
        left join usage_anchors a on a.organization_id = @organizationId
        """;

    /// <summary>
    /// The metric's declaration, the organization's override of it and its usage anchor, in one read: the metric's
    /// columns (a <see cref="MetricRow"/>), then from <c>organization_id</c> on (never null, so Dapper's multi-map
    /// keeps the anchors when there is no override) a <see cref="ScopeRow"/>.
    /// </summary>
    public static readonly string Scope = ScopeSelect + "\nwhere m.name = @metric";

    /// <summary>Every metric as <see cref="Scope"/> reads one.</summary>
    public static readonly string ScopeAll = ScopeSelect + "\norder by m.name";

    /// <summary>
    /// <see cref="Scope"/> for every (organization, metric) pair of a batch at once, on PostgreSQL: the pairs as two
    /// arrays (<c>@orgs</c>, <c>@metrics</c>), one statement text whatever the batch's size. A pair whose metric is not
    /// declared has no row.
    /// </summary>
    public static readonly string ScopeBatchPostgres =
        $"""
        select {MetricRow.ColumnsOf("m")},
               t.o as organization_id, o.limit_value as override_limit, a.period_start as anchor_start, a.period_end as anchor_end
        from unnest(@orgs, @metrics) as t(o, n)
        join usage_metrics m on m.name = t.n
        left join usage_limit_overrides o on o.organization_id = t.o and o.metric = t.n
        left join usage_anchors a on a.organization_id = t.o
        """;

    /// <summary>As <see cref="ScopeBatchPostgres"/> on SQLite: the pairs as one JSON array of <c>[organization, metric]</c> (<c>@pairs</c>).</summary>
    public static readonly string ScopeBatchSqlite =
        $"""
        select {MetricRow.ColumnsOf("m")},
               t.o as organization_id, o.limit_value as override_limit, a.period_start as anchor_start, a.period_end as anchor_end
        from (select json_extract(j.value, '$[0]') as o, json_extract(j.value, '$[1]') as n from json_each(@pairs) j) t
        join usage_metrics m on m.name = t.n
        left join usage_limit_overrides o on o.organization_id = t.o and o.metric = t.n
        left join usage_anchors a on a.organization_id = t.o
        """;

    /// <summary>
    /// The decision: a fresh row only if the amount fits at all, an existing one only if used + amount fits. No row
    /// back means refused and nothing written. (SQLite needs the WHERE of the SELECT to parse the upsert.)
    /// </summary>
    public const string Consume =
        """
        insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
        select @OrganizationId, @metric, @PeriodStart, @PeriodEnd, @amount, @now, @now
        where @limit < 0 or @amount <= @limit
        on conflict (organization_id, metric, period_start) do update
            set used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
            where @limit < 0 or usage_counters.used + excluded.used <= @limit
        returning used
        """;

    /// <summary>Counts without a limit (usage that already happened).</summary>
    public const string Add =
        """
        insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
        values (@OrganizationId, @metric, @PeriodStart, @PeriodEnd, @amount, @now, @now)
        on conflict (organization_id, metric, period_start) do update
            set used = usage_counters.used + excluded.used, updated_at = excluded.updated_at
        returning used
        """;

    /// <summary>Gives back only what is used: no row back (nothing counted, or less than the amount) is 409 <c>release_exceeds_usage</c>.</summary>
    public const string Release =
        """
        update usage_counters set used = used - @amount, updated_at = @now
        where organization_id = @OrganizationId and metric = @metric and period_start = @PeriodStart and used >= @amount
        returning used
        """;

    public const string Decrement =
        """
        update usage_counters set used = case when used > @Amount then used - @Amount else 0 end, updated_at = @now
        where organization_id = @organizationId and metric = @metric and period_start = @PeriodStart
        """;

    /// <summary>A gauge set to a value counted from its source rows; with a cap (not -1), only if the value fits.</summary>
    public const string SetGauge =
        """
        insert into usage_counters (organization_id, metric, period_start, period_end, used, created_at, updated_at)
        select @organizationId, @metric, @periodStart, @periodEnd, @value, @now, @now
        where @cap < 0 or @value <= @cap
        on conflict (organization_id, metric, period_start) do update
            set used = excluded.used, updated_at = excluded.updated_at
        returning used
        """;

    /// <summary>
    /// A counted change's key, written once with its answer (status, used, limit, period) in the transaction of its
    /// count, after its decision (the key was looked up, and on PostgreSQL locked, before anything was counted).
    /// </summary>
    public const string StoreAnswer =
        """
        insert into usage_idempotency
            (organization_id, metric, idempotency_key, operation, amount, status, used, limit_value, period_start, period_end, created_at)
        values (@OrganizationId, @metric, @key, @operation, @amount, @status, @used, @limit, @PeriodStart, @PeriodEnd, @now)
        """;
}
