using Backstop.Infrastructure.Events;

namespace Backstop.Features.Quota;

/// <summary><c>usage.threshold_reached</c>'s <c>data</c>: the threshold crossed (a percentage of the limit) and the usage as <c>GET /v1/usage</c> shows it after the consumption.</summary>
internal sealed record UsageThresholdReached(int Threshold, UsageReading Usage);

/// <summary>
/// <c>usage.limit_reached</c>'s <c>data</c>: the usage as <c>GET /v1/usage</c> shows it; <paramref name="Refused"/>
/// tells whether a refused consumption (rather than one that took the counter to its limit) raised it.
/// </summary>
internal sealed record UsageLimitReached(bool Refused, UsageReading Usage);

/// <summary>
/// The slice's outbound events (docs/events-catalogue.md), raised by <see cref="UsageNotices"/> in the transaction of
/// the consumption. <c>usage.limit_reached</c> is raised <b>once per (organization, metric, period)</b>, by the first of:
/// an admitted consumption (or recorded usage) that takes the counter from below its limit to at or past it (a hard
/// limit: <c>used == limit</c>; a soft one may pass it), or the first consumption refused at the limit (a request
/// bigger than what remains refuses before the counter ever equals the limit). Unlimited metrics never reach it; a
/// limit of 0 reaches it at its first refusal. The primary key of <c>usage_notices</c> decides, with the reserved
/// threshold 0 (a metric's thresholds are 1–1000), so concurrent consumptions raise it once, and a reset or a release
/// that lets the counter reach the limit again in the same period raises nothing more. A refusal inside a caller's
/// transaction that then rolls back (a bot start refused by its plan) takes its event with it.
/// </summary>
internal static class UsageEvents
{
    /// <summary>The <c>usage_notices.threshold</c> that records a period's <c>usage.limit_reached</c>.</summary>
    public const int LimitReachedThreshold = 0;

    public static async Task LimitReachedAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, UsageScope scope, UsageReading reading,
        bool refused, DateTimeOffset now, CancellationToken ct)
    {
        if (scope.Limit < 0) return;
        var raised = await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into usage_notices (organization_id, metric, period_start, threshold, used, limit_value, raised_at)
            values (@OrganizationId, @metric, @PeriodStart, @threshold, @used, @Limit, @now)
            on conflict (organization_id, metric, period_start, threshold) do nothing
            """, new { scope.OrganizationId, metric = scope.Metric.Name, scope.PeriodStart, threshold = LimitReachedThreshold, used = reading.Used, scope.Limit, now },
            tx, cancellationToken: ct));
        if (raised > 0)
            await events.PublishAsync(connection, tx, EventTypes.UsageLimitReached, scope.OrganizationId, new UsageLimitReached(refused, reading), ct);
    }
}
