using FastEndpoints;

namespace Backstop.Features.Quota;

internal sealed record GetUsageHistoryRequest
{
    public string Metric { get; init; } = "";
    /// <summary>How many periods, newest first (1-120, default 12).</summary>
    [QueryParam]
    public int? Periods { get; init; }

    public sealed class Validator : Validator<GetUsageHistoryRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Periods).InclusiveBetween(1, 120).When(r => r.Periods is not null).WithMessage("periods must be between 1 and 120.");
        }
    }
}

/// <param name="Used">What the period's counter holds (after any operator reset).</param>
internal sealed record UsagePeriodTotal(DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, long Used);

internal sealed record UsageHistoryResponse(string Metric, IReadOnlyList<UsagePeriodTotal> Items);

/// <summary>
/// <c>GET /v1/usage/{metric}/history?periods=12</c>: a counter's total per period, newest first. Each period's row is
/// the counter itself (a new period is a new row), kept <c>Quota:HistoryRetentionDays</c> after the period ended.
/// Periods in which nothing was counted have no row and are not listed.
/// </summary>
internal sealed class GetUsageHistory(Db db, UsageMeter meter) : Endpoint<GetUsageHistoryRequest, UsageHistoryResponse>
{
    public override void Configure()
    {
        Get("/v1/usage/{metric}/history");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "List a counter's totals of past periods, newest first.");
        Description(d => d.Answers<UsageHistoryResponse>().Problems(404, 409));
    }

    public override async Task HandleAsync(GetUsageHistoryRequest req, CancellationToken ct)
    {
        var scope = await meter.ResolveAsync(User.OrganizationId(), req.Metric, lenient: true, ct);
        if (scope.IsGauge) throw new ProblemException(409, "metric_not_a_counter", $"'{req.Metric}' is a gauge: it has no periods, only its current value.");
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<UsagePeriodTotal>(new CommandDefinition(
            """
            select period_start, period_end, used from usage_counters
            where organization_id = @OrganizationId and metric = @metric
            order by period_start desc
            limit @periods
            """, new { scope.OrganizationId, metric = scope.Metric.Name, periods = req.Periods ?? 12 }, cancellationToken: ct));
        await Send.OkAsync(new UsageHistoryResponse(scope.Metric.Name, rows.AsList()), ct);
    }
}
