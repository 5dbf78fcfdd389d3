using System.Text.RegularExpressions;

namespace Backstop.Features.Billing.Plans;

/// <summary>A row of <c>plans</c> with every column, Paddle's price included.</summary>
internal sealed record PlanRecord
{
    public string Code { get; init; } = "";
    public string Name { get; init; } = "";
    public string? StripePriceId { get; init; }
    public string? PaddlePriceId { get; init; }
    public int TrialDays { get; init; }
    public string Limits { get; init; } = "{}";
    public bool Active { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public Dictionary<string, long> LimitMap() => JsonSerializer.Deserialize<Dictionary<string, long>>(Limits) ?? [];
}

/// <param name="Limits">Metric → limit; <c>-1</c> is unlimited.</param>
internal sealed record PlanResponse(
    string Code,
    string Name,
    string? StripePriceId,
    string? PaddlePriceId,
    int TrialDays,
    IReadOnlyDictionary<string, long> Limits,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static PlanResponse From(PlanRecord row) =>
        new(row.Code, row.Name, row.StripePriceId, row.PaddlePriceId, row.TrialDays, row.LimitMap(), row.Active, row.CreatedAt, row.UpdatedAt);
}

/// <summary>The rules of a plan's fields, shared by the create and update validators.</summary>
internal static partial class PlanRules
{
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,47}$")]
    public static partial Regex CodePattern();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    public static partial Regex MetricPattern();

    public const int MaxLimits = 100;

    /// <summary>
    /// The one place a plan's limits are checked (create and update): metric names, values (<c>-1</c> unlimited, else
    /// ≥ 0), how many. Whether each metric is one Quota declares is checked by <see cref="EnsureDeclaredAsync"/>, which
    /// needs the database and so runs in the handler.
    /// </summary>
    public static IEnumerable<string> LimitProblems(IReadOnlyDictionary<string, long> limits)
    {
        if (limits.Count > MaxLimits) yield return $"limits may name at most {MaxLimits} metrics.";
        foreach (var (metric, limit) in limits)
        {
            if (!MetricPattern().IsMatch(metric))
                yield return $"limits: '{Shorten(metric)}' is not a metric name (a lowercase letter, then up to 63 lowercase letters, digits or underscores).";
            if (limit < -1) yield return $"limits: {Shorten(metric)} must be -1 (unlimited) or a number of 0 or more.";
        }
    }

    /// <summary>400 <c>undeclared_metric</c> when the limits name a metric Quota does not declare (a limit nobody could count).</summary>
    public static async Task EnsureDeclaredAsync(Quota.IMetricCatalog catalog, IReadOnlyDictionary<string, long>? limits, CancellationToken ct)
    {
        if (limits is not { Count: > 0 }) return;
        var undeclared = await catalog.UndeclaredAsync(limits.Keys, ct);
        if (undeclared.Count > 0)
            throw new ProblemException(400, "undeclared_metric",
                $"limits name metrics that are not declared: {string.Join(", ", undeclared.Select(Shorten))}. Declare each with PUT /v1/admin/metrics/{{name}} first.")
            {
                Extensions = new Dictionary<string, object?> { ["metrics"] = undeclared },
            };
    }

    /// <summary>A Stripe price id (<c>price_…</c>) or a Paddle one (<c>pri_…</c>); an empty string (clearing it) is checked by the caller.</summary>
    public static bool IsPriceId(string id, string prefix) =>
        id.StartsWith(prefix, StringComparison.Ordinal) && id.Length <= 255 && id.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static string Shorten(string s) => s.Length > 70 ? s[..70] + "…" : s;
}

/// <summary>The plans of the operator API: the SQL, the conditional deactivation and the audit entries.</summary>
internal sealed class PlanStore(Db db, TimeProvider time, IAuditLog audit, IOptions<BillingOptions> options)
{
    public const string Columns = "code, name, stripe_price_id, paddle_price_id, trial_days, limits, active, created_at, updated_at";

    /// <summary>Statuses whose subscriptions hold a plan in force: such a plan cannot be deactivated.</summary>
    public const string LiveStatuses = "('trialing', 'active', 'past_due', 'suspended', 'unpaid', 'paused')";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string SerializeLimits(IReadOnlyDictionary<string, long> limits) =>
        JsonSerializer.Serialize(limits.OrderBy(l => l.Key, StringComparer.Ordinal).ToDictionary(l => l.Key, l => l.Value), Json);

    public static Task<PlanRecord?> FindAsync(DbConnection connection, DbTransaction? tx, string code, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<PlanRecord>(new CommandDefinition(
            $"select {Columns} from plans where code = @code", new { code }, tx, cancellationToken: ct));

    public async Task<PlanRecord> GetAsync(string code, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await FindAsync(connection, null, code, ct) ?? throw NotFound(code);
    }

    /// <summary>Plans ordered by code, <paramref name="take"/> + 1 rows after <paramref name="afterCode"/>.</summary>
    public async Task<IReadOnlyList<PlanRecord>> ListAsync(string? afterCode, int take, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var parameters = new DynamicParameters(new { limit = take + 1 });
        parameters.Add("after", afterCode, System.Data.DbType.String);
        return (await connection.QueryAsync<PlanRecord>(new CommandDefinition(
            $"select {Columns} from plans where (@after is null or code > @after) order by code limit @limit", parameters, cancellationToken: ct))).ToList();
    }

    public async Task<PlanRecord> CreateAsync(PlanRecord plan, CancellationToken ct)
    {
        try
        {
            return await db.InTransactionAsync(async (c, tx) =>
            {
                // No conflict target: a taken code and a taken price both just insert nothing (an error would abort a
                // PostgreSQL transaction); which one it was is told apart below.
                var inserted = await c.QuerySingleOrDefaultAsync<PlanRecord>(new CommandDefinition(
                    $"""
                    insert into plans (code, name, stripe_price_id, paddle_price_id, trial_days, limits, active, created_at, updated_at)
                    values (@Code, @Name, @StripePriceId, @PaddlePriceId, @TrialDays, @Limits, @Active, @CreatedAt, @UpdatedAt)
                    on conflict do nothing
                    returning {Columns}
                    """, plan, tx, cancellationToken: ct));
                if (inserted is null)
                {
                    if (await FindAsync(c, tx, plan.Code, ct) is not null)
                        throw new ProblemException(409, "plan_exists", $"A plan with code '{plan.Code}' already exists.");
                    throw PriceTaken();
                }
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.PlanCreate, "plan", plan.Code, null, Changes(null, inserted)), ct);
                return inserted;
            }, ct);
        }
        catch (Exception e) when (DialectSql.IsUniqueViolation(e))
        {
            throw PriceTaken();
        }
    }

    /// <summary>The fields of a PATCH: null leaves a field as it is; an empty price id clears it.</summary>
    internal sealed record Patch(string? Name, string? StripePriceId, string? PaddlePriceId, int? TrialDays, IReadOnlyDictionary<string, long>? Limits, bool? Active);

    public async Task<PlanRecord> UpdateAsync(string code, Patch patch, CancellationToken ct)
    {
        if (patch.Active == false) RefuseDefaultPlan(code, "deactivated");
        try
        {
            return await db.InTransactionAsync(async (c, tx) =>
            {
                // The row lock (PostgreSQL; SQLite's write lock is already held) makes the row read here the one replaced.
                var before = await c.QuerySingleOrDefaultAsync<PlanRecord>(new CommandDefinition(
                    $"select {Columns} from plans where code = @code {db.Dialect.ForUpdate()}", new { code }, tx, cancellationToken: ct)) ?? throw NotFound(code);
                var after = before with
                {
                    Name = patch.Name ?? before.Name,
                    StripePriceId = patch.StripePriceId is null ? before.StripePriceId : patch.StripePriceId.Length == 0 ? null : patch.StripePriceId,
                    PaddlePriceId = patch.PaddlePriceId is null ? before.PaddlePriceId : patch.PaddlePriceId.Length == 0 ? null : patch.PaddlePriceId,
                    TrialDays = patch.TrialDays ?? before.TrialDays,
                    Limits = patch.Limits is null ? before.Limits : SerializeLimits(patch.Limits),
                    Active = patch.Active ?? before.Active,
                    UpdatedAt = time.GetUtcNow(),
                };
                var updated = await UpdateRowAsync(c, tx, after, ct);
                if (updated is null) throw await InUseAsync(c, tx, code, ct);
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.PlanUpdate, "plan", code, null, Changes(before, updated)), ct);
                return updated;
            }, ct);
        }
        catch (Exception e) when (DialectSql.IsUniqueViolation(e))
        {
            throw PriceTaken();
        }
    }

    /// <summary>
    /// Deletes a plan no subscription row has ever referenced, otherwise deactivates it (409 <c>plan_in_use</c> while
    /// live subscriptions are on it). The foreign keys (<c>restrict</c>) have the last word: a plan referenced by a
    /// row this statement cannot see (another slice's, or one inserted meanwhile) is never deleted.
    /// </summary>
    public async Task<(bool Deleted, PlanRecord? Plan)> DeleteAsync(string code, CancellationToken ct)
    {
        RefuseDefaultPlan(code, "deleted");
        try
        {
            var deleted = await db.InTransactionAsync(async (c, tx) =>
            {
                var row = await c.QuerySingleOrDefaultAsync<PlanRecord>(new CommandDefinition(
                    $"""
                    delete from plans
                    where code = @code and not exists (select 1 from subscriptions where plan_code = @code or pending_plan_code = @code)
                    returning {Columns}
                    """, new { code }, tx, cancellationToken: ct));
                if (row is not null)
                    await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.PlanDelete, "plan", code, null, Changes(row, null)), ct);
                return row;
            }, ct);
            if (deleted is not null) return (true, null);
        }
        catch (Exception e) when (DialectSql.IsForeignKeyViolation(e))
        {
            // Referenced after all: deactivated below instead.
        }
        return (false, await UpdateAsync(code, new Patch(null, null, null, null, null, false), ct));
    }

    private async Task<PlanRecord?> UpdateRowAsync(DbConnection c, DbTransaction tx, PlanRecord after, CancellationToken ct) =>
        // Deactivating is one conditional statement: it happens only while no live subscription is on the plan. A plan
        // already inactive (a live subscription may reach it from Stripe) can still be edited.
        await c.QuerySingleOrDefaultAsync<PlanRecord>(new CommandDefinition(
            $"""
            update plans
            set name = @Name, stripe_price_id = @StripePriceId, paddle_price_id = @PaddlePriceId, trial_days = @TrialDays,
                limits = @Limits, active = @Active, updated_at = @UpdatedAt
            where code = @Code
              and (@Active or not active or not exists (select 1 from subscriptions where plan_code = @Code and status in {LiveStatuses}))
            returning {Columns}
            """, after, tx, cancellationToken: ct));

    private static async Task<ProblemException> InUseAsync(DbConnection c, DbTransaction tx, string code, CancellationToken ct)
    {
        var count = await c.ExecuteScalarAsync<long>(new CommandDefinition(
            $"select count(*) from subscriptions where plan_code = @code and status in {LiveStatuses}", new { code }, tx, cancellationToken: ct));
        return new ProblemException(409, "plan_in_use",
            $"The plan '{code}' has {count} live subscription(s) and cannot be deactivated; move them to another plan first.")
        {
            Extensions = new Dictionary<string, object?> { ["subscriptions"] = count },
        };
    }

    private void RefuseDefaultPlan(string code, string what)
    {
        if (string.Equals(code, options.Value.DefaultPlan, StringComparison.Ordinal))
            throw new ProblemException(409, "default_plan",
                $"The plan '{code}' is Billing:DefaultPlan (what organizations without a subscription get) and cannot be {what}.");
    }

    /// <summary>404 <c>plan_not_found</c>: the one wording of the code, wherever a plan is looked up.</summary>
    internal static ProblemException NotFound(string code) => new(404, "plan_not_found", $"There is no plan with code '{code}'.");

    private static ProblemException PriceTaken() =>
        new(409, "price_in_use", "Another plan already has this Stripe or Paddle price; a price identifies one plan.");

    /// <summary>What changed, field by field (<c>planCode</c>, not <c>code</c>: the audit log redacts properties named <c>code</c>).</summary>
    private static Dictionary<string, object?> Changes(PlanRecord? before, PlanRecord? after)
    {
        var changes = new Dictionary<string, object?>();
        void Field<T>(string name, Func<PlanRecord, T> value)
        {
            var from = before is null ? default : value(before);
            var to = after is null ? default : value(after);
            if (!EqualityComparer<T>.Default.Equals(from, to)) changes[name] = new { from, to };
        }
        Field("planCode", p => p.Code);
        Field("name", p => p.Name);
        Field("stripePriceId", p => p.StripePriceId);
        Field("paddlePriceId", p => p.PaddlePriceId);
        Field("trialDays", p => (int?)p.TrialDays);
        Field("limits", p => p.Limits);
        Field("active", p => (bool?)p.Active);
        return changes;
    }
}
