using System.Globalization;
using Backstop.Features.ApiKeys;
using Backstop.Features.Bots;
using Backstop.Features.Quota;

namespace Backstop.Features.Billing.PlanChanges;

/// <summary>The usage plan violations are computed from, read through the other slices' public faces.</summary>
internal sealed record PlanUsage(long MeetingsThisPeriod, long TeamMembers, long StoredBytes)
{
    /// <summary>Every declared metric's stored usage in its own window's current period (Quota's <c>IUsagePeriods</c>).</summary>
    public IReadOnlyList<MetricUsage> Metrics { get; init; } = [];
}

/// <param name="Type"><c>meetings</c>, <c>team_members</c> or <c>storage</c> (as the API shows it).</param>
/// <param name="Metric">The plan limit's metric: <c>meetings_per_month</c>, <c>team_members</c>, <c>storage_bytes</c>.</param>
/// <param name="Action"><c>read_only</c>, <c>notify_admin</c> or <c>grace_period</c>.</param>
/// <param name="Remove">What to do before a downgrade the <c>refuse</c> policy blocks.</param>
internal sealed record ViolationFinding(string Type, string Metric, long Current, long Limit, string Action, string Sentence, string Remove);

/// <summary>A stored, open row of <c>plan_violations</c>.</summary>
internal sealed record StoredViolation
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string Metric { get; init; } = "";
    public string PlanCode { get; init; } = "";
    public long CurrentUsage { get; init; }
    public long LimitValue { get; init; }
    public string Action { get; init; } = "";
    public string Sentence { get; init; } = "";
    public DateTimeOffset? GraceEndsAt { get; init; }
    public DateTimeOffset DetectedAt { get; init; }
    public DateTimeOffset? FinalWarningAt { get; init; }

    /// <summary>Creation of the metric is refused now: always, except a storage grace that has not ended.</summary>
    public bool BlockingAt(DateTimeOffset now) => Action != PlanViolations.GracePeriod || GraceEndsAt is null || GraceEndsAt <= now;

    public string Type => PlanViolations.TypeOf(Metric);
}

/// <summary>
/// Plan violations: what an organization holds beyond a plan's limits. Computed for a preview, stored when a
/// downgrade takes effect, read by the access gate, re-checked daily (a violation whose usage is back under the limit
/// clears itself) and cleared by an upgrade.
/// </summary>
/// <remarks>
/// Meetings are counted in a billing period (the subscription's, else the calendar month): a meetings violation
/// means the organization already created more meetings in the current period than the plan allows per month, so
/// creation stays refused (read-only) until a period in which it is under the limit begins. Members and stored bytes
/// are counted as they are now. A metric the plan does not name, or names with -1, has no limit.
/// </remarks>
internal sealed class PlanViolations(IMeetingUsage meetings, IOrganizationDirectory directory, IUsagePeriods periods, TimeProvider time, IOptions<BillingOptions> options,
    BillingEvents billingEvents)
{
    public const string ReadOnly = "read_only";
    public const string NotifyAdmin = "notify_admin";
    public const string GracePeriod = "grace_period";

    public const string MeetingsMetric = "meetings_per_month";
    public const string MembersMetric = "team_members";
    public const string StorageMetric = "storage_bytes";

    private const string OpenColumns =
        "id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, grace_ends_at, detected_at, final_warning_at";

    public static string TypeOf(string metric) => metric switch
    {
        MeetingsMetric => "meetings",
        MembersMetric => "team_members",
        StorageMetric => "storage",
        _ => metric,
    };

    /// <summary>The organization's billing period at <paramref name="now"/> when it has no subscription period: the calendar month (UTC).</summary>
    public static (DateTimeOffset From, DateTimeOffset To) CalendarMonth(DateTimeOffset now)
    {
        var from = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (from, from.AddMonths(1));
    }

    /// <summary>
    /// The organization's usage now. <paramref name="anchorStart"/>/<paramref name="anchorEnd"/> is the billing anchor
    /// (the subscription's current period, else the calendar month): each metric is counted in the period of its own
    /// window computed from it by Quota's one period function, the same the counters use (meetings_per_month on an
    /// annual plan: this month from the anchor's day, not the whole year).
    /// </summary>
    public async Task<PlanUsage> UsageAsync(DbConnection connection, DbTransaction? tx, string organizationId, DateTimeOffset anchorStart, DateTimeOffset anchorEnd, CancellationToken ct)
    {
        var metrics = await periods.UsageAsync(connection, tx, organizationId, anchorStart, anchorEnd, ct);
        var meetingsPeriod = metrics.FirstOrDefault(m => m.Metric.Name == MeetingsMetric)?.Period ?? periods.PeriodOf("month", time.GetUtcNow(), anchorStart, anchorEnd);
        return new PlanUsage(
            await meetings.CountMeetingsCreatedAsync(connection, tx, organizationId, meetingsPeriod.Start, meetingsPeriod.End, ct),
            await directory.CountMembersAsync(connection, tx, organizationId, ct),
            await meetings.StoredBytesAsync(connection, tx, organizationId, ct)) { Metrics = metrics };
    }

    /// <summary>Every limit of <paramref name="limits"/> that <paramref name="usage"/> exceeds.</summary>
    public static List<ViolationFinding> Against(PlanUsage usage, IReadOnlyDictionary<string, long> limits, string planName)
    {
        var findings = new List<ViolationFinding>();
        if (Over(limits, MeetingsMetric, usage.MeetingsThisPeriod) is { } meetingsLimit)
            findings.Add(new ViolationFinding("meetings", MeetingsMetric, usage.MeetingsThisPeriod, meetingsLimit, ReadOnly,
                $"Your organization created {usage.MeetingsThisPeriod} meetings this billing period but the {planName} plan allows {meetingsLimit} per month",
                $"Wait for the next billing period: {usage.MeetingsThisPeriod - meetingsLimit} meetings over the {planName} plan's {meetingsLimit} were already created this period"));
        if (Over(limits, MembersMetric, usage.TeamMembers) is { } membersLimit)
            findings.Add(new ViolationFinding("team_members", MembersMetric, usage.TeamMembers, membersLimit, NotifyAdmin,
                $"Your team has {usage.TeamMembers} members but the {planName} plan allows {membersLimit}",
                $"Remove {usage.TeamMembers - membersLimit} team members before downgrading"));
        if (Over(limits, StorageMetric, usage.StoredBytes) is { } storageLimit)
            findings.Add(new ViolationFinding("storage", StorageMetric, usage.StoredBytes, storageLimit, GracePeriod,
                $"Your organization stores {Bytes(usage.StoredBytes)} of recordings but the {planName} plan allows {Bytes(storageLimit)}",
                $"Delete {Bytes(usage.StoredBytes - storageLimit)} of recordings before downgrading"));
        // Every other metric the plan limits (the application's own, and built-ins other slices count), from its stored
        // usage, named by its declared display name and unit.
        foreach (var (metric, limit) in limits.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            if (metric is MeetingsMetric or MembersMetric or StorageMetric || limit < 0) continue;
            if (usage.Metrics.FirstOrDefault(m => m.Metric.Name == metric) is not { } used || used.Used <= limit) continue;
            var unit = used.Metric.Unit ?? used.Metric.DisplayName ?? metric;
            findings.Add(used.Metric.Kind == "gauge"
                ? new ViolationFinding(metric, metric, used.Used, limit, NotifyAdmin,
                    $"Your organization has {used.Used} {unit} but the {planName} plan allows {limit}",
                    $"Please delete {used.Used - limit} {unit} before downgrading")
                : new ViolationFinding(metric, metric, used.Used, limit, ReadOnly,
                    $"Your organization used {used.Used} {unit} this {WindowWord(used.Metric.Window)} but the {planName} plan allows {limit}",
                    $"Wait for the next {WindowWord(used.Metric.Window)}: {used.Used - limit} {unit} over the {planName} plan's {limit} were already used"));
        }
        return findings;
    }

    private static string WindowWord(string window) => window switch
    {
        "day" => "day",
        "year" => "year",
        "billing_period" => "billing period",
        _ => "month",
    };

    private static long? Over(IReadOnlyDictionary<string, long> limits, string metric, long current) =>
        limits.TryGetValue(metric, out var limit) && limit >= 0 && current > limit ? limit : null;

    public static string Bytes(long bytes)
    {
        string[] units = ["bytes", "KB", "MB", "GB", "TB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} bytes" : value.ToString("0.#", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    /// <summary>
    /// Stores <paramref name="findings"/> as the organization's open violations of <paramref name="planCode"/> and clears
    /// the open ones the plan no longer causes. A violation already open keeps its detection time and storage grace end
    /// (a second downgrade does not extend the grace). <paramref name="changeKey"/> names the plan change that caused them
    /// (null: a re-measurement, which keeps the cause). Returns the open violations after the change.
    /// </summary>
    public async Task<IReadOnlyList<StoredViolation>> StoreAsync(DbConnection connection, DbTransaction tx, string organizationId, string planCode,
        IReadOnlyList<ViolationFinding> findings, string? changeKey, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var graceEnds = now.AddDays(options.Value.StorageGraceDays);
        var open = await OpenAsync(connection, tx, organizationId, ct);
        foreach (var f in findings)
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, grace_ends_at,
                                             change_key, detected_at, created_at, updated_at)
                values (@id, @organizationId, @Metric, @planCode, @Current, @Limit, @Action, @Sentence, @grace, @changeKey, @now, @now, @now)
                on conflict (organization_id, metric) where cleared_at is null do update
                    set plan_code = excluded.plan_code, current_usage = excluded.current_usage, limit_value = excluded.limit_value,
                        action = excluded.action, sentence = excluded.sentence,
                        change_key = coalesce(excluded.change_key, plan_violations.change_key), updated_at = excluded.updated_at
                """,
                new
                {
                    id = Ids.New(time), organizationId, f.Metric, planCode, f.Current, f.Limit, f.Action, f.Sentence,
                    grace = f.Action == GracePeriod ? graceEnds : (DateTimeOffset?)null, changeKey, now,
                }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            $"""
            update plan_violations set cleared_at = @now, updated_at = @now
            where organization_id = @organizationId and cleared_at is null and not ({MetricIn(findings.Count)})
            """, MetricParameters(findings, new { organizationId, now }), tx, cancellationToken: ct));
        await billingEvents.ViolationsAsync(connection, tx, organizationId, open, ct);
        return await OpenAsync(connection, tx, organizationId, ct);
    }

    private static string MetricIn(int count) =>
        count == 0 ? "1 = 0" : "metric in (" + string.Join(", ", Enumerable.Range(0, count).Select(i => "@m" + i)) + ")";

    private static DynamicParameters MetricParameters(IReadOnlyList<ViolationFinding> findings, object args)
    {
        var parameters = new DynamicParameters(args);
        for (var i = 0; i < findings.Count; i++) parameters.Add("m" + i, findings[i].Metric);
        return parameters;
    }

    /// <summary>Clears every open violation of the organization (an upgrade). Returns how many were cleared.</summary>
    public async Task<int> ClearAllAsync(DbConnection connection, DbTransaction tx, string organizationId, CancellationToken ct)
    {
        var open = await OpenAsync(connection, tx, organizationId, ct);
        var cleared = await connection.ExecuteAsync(new CommandDefinition(
            "update plan_violations set cleared_at = @now, updated_at = @now where organization_id = @organizationId and cleared_at is null",
            new { organizationId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        await billingEvents.ViolationsAsync(connection, tx, organizationId, open, ct);
        return cleared;
    }

    public static async Task<IReadOnlyList<StoredViolation>> OpenAsync(DbConnection connection, DbTransaction? tx, string organizationId, CancellationToken ct) =>
        (await connection.QueryAsync<StoredViolation>(new CommandDefinition(
            $"select {OpenColumns} from plan_violations where organization_id = @organizationId and cleared_at is null order by metric",
            new { organizationId }, tx, cancellationToken: ct))).AsList();

    /// <summary>The open violations of many organizations in one read (served by the partial unique index on open violations).</summary>
    public static async Task<IReadOnlyList<StoredViolation>> OpenAsync(DbConnection connection, DbTransaction? tx, IReadOnlyCollection<string> organizationIds,
        CancellationToken ct) =>
        (await connection.QueryAsync<StoredViolation>(new CommandDefinition(
            $"select {OpenColumns} from plan_violations where {DialectSql.Of(connection).AnyOf("organization_id", "ids")} and cleared_at is null order by organization_id, metric",
            new { ids = organizationIds.ToArray() }, tx, cancellationToken: ct))).AsList();

    public static ViolationSummary Summary(StoredViolation v, DateTimeOffset now) =>
        new(v.Metric, v.CurrentUsage, v.LimitValue, v.Action, v.Sentence, v.GraceEndsAt, v.BlockingAt(now));
}
