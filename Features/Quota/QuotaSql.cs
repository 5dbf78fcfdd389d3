namespace Backstop.Features.Quota;

/// <summary>The slice's statements that more than one file runs; all portable to SQLite and PostgreSQL.</summary>
internal static class QuotaSql
{
    /// <summary>The metric's declaration, the organization's override of it and its billing anchor, in one read.</summary>
    public const string Scope = ScopeSelect + "\nwhere m.name = @metric";

    /// <summary>Every metric as <see cref="Scope"/> reads one.</summary>
    public const string ScopeAll = ScopeSelect + "\norder by m.name";

    private const string ScopeSelect =
        """
        select m.name, m.kind, m.description, m.default_limit, m.creation, m.built_in, m.usage_window, m.display_name, m.unit, m.thresholds, m.limit_mode,
               o.limit_value as override_limit, a.period_start as anchor_start, a.period_end as anchor_end
        from usage_metrics m
        left join usage_limit_overrides o on o.organization_id = @organizationId and o.metric = m.name
        left join usage_anchors a on a.organization_id = @organizationId
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
