using Backstop.Features.Billing;
using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record MetricResponse(string Name, string Kind, string Description, long? DefaultLimit, bool Creation, bool BuiltIn, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>When a counter starts again: <c>month</c>, <c>billing_period</c>, <c>day</c>, <c>year</c>; <c>none</c> for a gauge.</summary>
    public string Window { get; init; } = UsageWindows.Month;
    public string? DisplayName { get; init; }
    public string? Unit { get; init; }
    /// <summary>Percentages of the limit at which the owners are told.</summary>
    public IReadOnlyList<int> Thresholds { get; init; } = [];
    /// <summary><c>hard</c> or <c>soft</c>.</summary>
    public string LimitMode { get; init; } = "hard";

    public static MetricResponse From(MetricRow r) => new(r.Name, r.Kind, r.Description, r.DefaultLimit, r.Creation, r.BuiltIn, r.CreatedAt, r.UpdatedAt)
    {
        Window = r.IsGauge ? UsageWindows.None : r.UsageWindow, DisplayName = r.DisplayName, Unit = r.Unit,
        Thresholds = MetricRow.ParseThresholds(r.Thresholds), LimitMode = r.LimitMode,
    };
}

internal sealed record PutMetricRequest
{
    public string Name { get; init; } = "";
    /// <summary><c>counter</c> (per billing period) or <c>gauge</c> (a current amount, never reset).</summary>
    public string? Kind { get; init; }
    public string? Description { get; init; }
    /// <summary>The limit of organizations whose plan does not name the metric (-1 unlimited); null: they cannot use it.</summary>
    public long? DefaultLimit { get; init; }
    /// <summary>Consuming it creates something, refused while the organization is past due (default true).</summary>
    public bool? Creation { get; init; }
    /// <summary>
    /// When a counter starts again: <c>month</c> (default: from the subscription's anchor day every month, whatever the
    /// plan's billing interval), <c>billing_period</c>, <c>day</c> (UTC) or <c>year</c>. Gauges never reset (<c>none</c>).
    /// </summary>
    public string? Window { get; init; }
    /// <summary>How downgrade previews and violations name it ("chatbots"); default: the name.</summary>
    public string? DisplayName { get; init; }
    /// <summary>What one unit is ("chatbots", "bytes"); default: the display name.</summary>
    public string? Unit { get; init; }

    /// <summary>Percentages of the limit (1-1000) at which the organization's owners are emailed, once per period each; default [80, 100]; [] for none.</summary>
    public int[]? Thresholds { get; init; }
    /// <summary><c>hard</c> (default: refused past the limit) or <c>soft</c> (admitted, the overage counted and shown, the 100 % notice raised).</summary>
    public string? LimitMode { get; init; }

    public string StoredThresholds() => Thresholds is null ? "80,100" : string.Join(',', Thresholds.Distinct().Order());

    /// <summary>The stored window: a gauge's is always <c>none</c>, a counter's defaults to <c>month</c>.</summary>
    public string StoredWindow() => Kind == BuiltInMetrics.Gauge ? UsageWindows.None : Window ?? UsageWindows.Month;

    public sealed class Validator : Validator<PutMetricRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Name).Matches("^[a-z][a-z0-9_]{0,63}$").WithErrorCode("invalid_metric_name")
                .WithMessage("The metric name must be 1-64 lowercase letters, digits or underscores, starting with a letter.");
            RuleFor(r => r.Kind).NotEmpty().WithMessage("kind is required: counter or gauge.")
                .Must(k => k is BuiltInMetrics.Counter or BuiltInMetrics.Gauge).When(r => !string.IsNullOrEmpty(r.Kind)).WithMessage("kind must be counter or gauge.");
            RuleFor(r => r.Description).MaximumLength(500).WithMessage("description must be at most 500 characters.");
            RuleFor(r => r.Description).NoControlCharacters("description");
            RuleFor(r => r.Window).Must(w => w is UsageWindows.Month or UsageWindows.BillingPeriod or UsageWindows.Day or UsageWindows.Year)
                .When(r => r.Window is not null && r.Kind != BuiltInMetrics.Gauge).WithErrorCode("invalid_window")
                .WithMessage("window must be month, billing_period, day or year.");
            RuleFor(r => r.Window).Must(w => w == UsageWindows.None)
                .When(r => r.Window is not null && r.Kind == BuiltInMetrics.Gauge).WithErrorCode("invalid_window")
                .WithMessage("A gauge never resets: its window is none.");
            RuleFor(r => r.Thresholds).Must(t => t!.Length <= 10 && t.All(p => p is >= 1 and <= 1000)).When(r => r.Thresholds is not null)
                .WithErrorCode("invalid_thresholds").WithMessage("thresholds must be at most 10 percentages, each between 1 and 1000.");
            RuleFor(r => r.LimitMode).Must(m => m is "hard" or "soft").When(r => r.LimitMode is not null)
                .WithErrorCode("invalid_limit_mode").WithMessage("limitMode must be hard or soft.");
            RuleFor(r => r.DisplayName).MaximumLength(100).WithMessage("displayName must be at most 100 characters.");
            RuleFor(r => r.DisplayName).NoControlCharacters("displayName");
            RuleFor(r => r.Unit).MaximumLength(50).WithMessage("unit must be at most 50 characters.");
            RuleFor(r => r.Unit).NoControlCharacters("unit");
            RuleFor(r => r.DefaultLimit).GreaterThanOrEqualTo(-1).When(r => r.DefaultLimit is not null).WithMessage("defaultLimit must be -1 (unlimited) or at least 0.");
        }
    }
}

/// <summary><c>PUT /v1/admin/metrics/{name}</c>: declares a metric (or updates its description, default and creation flag).</summary>
internal sealed class PutMetric(Db db, IOrganizationPlans plans, IAuditLog audit, TimeProvider time) : Endpoint<PutMetricRequest, MetricResponse>
{
    public override void Configure()
    {
        Put("/v1/admin/metrics/{name}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Declare a usage metric (counter or gauge) or update its declaration.");
        Description(d => d.Answers<MetricResponse>().Problems(404, 409));
    }

    public override async Task HandleAsync(PutMetricRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var description = req.Description?.Trim() ?? "";
        // A plan limiting the metric, or stored usage, was counted as the old kind: a counter turned gauge would never
        // reset, a gauge turned counter would hand back every slot at the next renewal.
        var inUse = await plans.AnyPlanLimitsAsync(req.Name, ct);
        var row = await db.InTransactionAsync(async (connection, tx) =>
        {
            var stored = await connection.QuerySingleOrDefaultAsync<MetricRow>(new CommandDefinition(
                $"""
                insert into usage_metrics (name, kind, description, default_limit, creation, built_in, usage_window, display_name, unit, thresholds,
                                           limit_mode, created_at, updated_at)
                values (@Name, @Kind, @description, @DefaultLimit, @creation, @no, @window, @displayName, @unit, @thresholds, @limitMode, @now, @now)
                on conflict (name) do update
                    set description = excluded.description, default_limit = excluded.default_limit, creation = excluded.creation,
                        usage_window = excluded.usage_window, display_name = excluded.display_name, unit = excluded.unit,
                        thresholds = excluded.thresholds, limit_mode = excluded.limit_mode,
                        updated_at = excluded.updated_at
                    where usage_metrics.kind = excluded.kind
                returning {MetricRow.Columns}
                """, new
                {
                    req.Name, req.Kind, description, req.DefaultLimit, creation = req.Creation ?? true, no = false, window = req.StoredWindow(),
                    displayName = req.DisplayName?.Trim(), unit = req.Unit?.Trim(), thresholds = req.StoredThresholds(), limitMode = req.LimitMode ?? "hard", now,
                }, tx, cancellationToken: ct));
            if (stored is null)
            {
                var existing = (await MetricRow.FindAsync(connection, tx, req.Name, ct))!;
                var counted = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    "select count(*) from usage_counters where metric = @Name", new { req.Name }, tx, cancellationToken: ct));
                if (existing.BuiltIn || inUse || counted > 0)
                    throw new ProblemException(409, "metric_in_use",
                        $"'{req.Name}' is a {existing.Kind}{(existing.BuiltIn ? " built into Backstop" : " that plans limit or organizations have used")}: its kind cannot change.");
                stored = await connection.QuerySingleAsync<MetricRow>(new CommandDefinition(
                    $"""
                    update usage_metrics set kind = @Kind, description = @description, default_limit = @DefaultLimit, creation = @creation,
                        usage_window = @window, display_name = @displayName, unit = @unit, thresholds = @thresholds, limit_mode = @limitMode, updated_at = @now
                    where name = @Name
                    returning {MetricRow.Columns}
                    """, new
                    {
                        req.Name, req.Kind, description, req.DefaultLimit, creation = req.Creation ?? true, window = req.StoredWindow(),
                        displayName = req.DisplayName?.Trim(), unit = req.Unit?.Trim(), thresholds = req.StoredThresholds(), limitMode = req.LimitMode ?? "hard", now,
                    }, tx, cancellationToken: ct));
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageMetricPut, "usage_metric", req.Name, null,
                new { req.Kind, description, req.DefaultLimit, creation = req.Creation ?? true, window = req.StoredWindow(), req.DisplayName, req.Unit, thresholds = req.StoredThresholds(), limitMode = req.LimitMode ?? "hard" }), ct);
            return stored;
        }, ct);
        await Send.OkAsync(MetricResponse.From(row), ct);
    }
}
