using FastEndpoints;

namespace Backstop.Infrastructure.Stats;

internal sealed record GetHourlyStatsRequest
{
    /// <summary>The first hour to answer (rounded down to its hour); default: the last 24 hours. At most 30 days back.</summary>
    [QueryParam] public DateTimeOffset? Since { get; init; }
}

/// <param name="From">The first hour answered (UTC).</param>
/// <param name="To">The current hour (UTC), the last one answered.</param>
/// <param name="Items">Each hour's non-zero counts by kind, key and outcome, oldest first; an hour without traffic has none.</param>
internal sealed record HourlyStatsResponse(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<HourlyCount> Items);

/// <summary><c>GET /v1/admin/stats/hourly</c>: webhooks received, outbox sends and event deliveries per hour and outcome.</summary>
internal sealed class GetHourlyStats(IHourlyStats stats, TimeProvider time) : Endpoint<GetHourlyStatsRequest, HourlyStatsResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/stats/hourly");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Hourly counts of webhooks received, outbox sends and event deliveries, by outcome.");
    }

    public sealed class Validator : Validator<GetHourlyStatsRequest>
    {
        public Validator() =>
            RuleFor(r => r.Since)
                .Must(s => s is null || (s <= Resolve<TimeProvider>().GetUtcNow() && s >= Resolve<TimeProvider>().GetUtcNow().AddDays(-HourlyCounts.RetentionDays)))
                .WithMessage($"since must lie within the last {HourlyCounts.RetentionDays} days (the counts' retention).");
    }

    public override async Task HandleAsync(GetHourlyStatsRequest req, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var from = HourlyCounts.HourOf(req.Since ?? now.AddHours(-23));
        await Send.OkAsync(new HourlyStatsResponse(from, HourlyCounts.HourOf(now), await stats.ReadAsync(from, ct)), ct);
    }
}
