using System.Globalization;
using System.Net;
using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox.Email;

namespace Backstop.Features.Quota;

/// <summary>
/// Threshold notices: when a consumption takes a counter across one of its metric's thresholds (a percentage of the
/// limit, default 80 % and 100 %), a notice is raised once per (organization, metric, period, threshold), decided by
/// the primary key of <c>usage_notices</c> in the transaction of the consumption that crossed it, so 50 concurrent
/// consumptions crossing 80 % raise one, and a reset that lets the counter cross again in the same period raises
/// none. The one place a notice is raised: the owners' email goes to the outbox here, and the outbound
/// <c>usage.threshold_reached</c> event (issue #26) belongs here too.
/// </summary>
internal sealed class UsageNotices(IOrganizationDirectory directory, IOutbox outbox, ILogger<UsageNotices> log, IEventPublisher events)
{
    public async Task RaiseAsync(DbConnection connection, DbTransaction tx, UsageChange change, long used, DateTimeOffset now, CancellationToken ct)
    {
        var scope = change.Scope;
        if (scope.Limit > 0 && used - change.Amount < scope.Limit && used >= scope.Limit)
            await UsageEvents.LimitReachedAsync(events, connection, tx, scope, scope.Reading(used), refused: false, now, ct);
        if (scope.Limit <= 0 || scope.Metric.Thresholds.Count == 0) return;
        var before = used - change.Amount;
        foreach (var threshold in scope.Metric.Thresholds)
        {
            var at = (long)Math.Ceiling(scope.Limit * threshold / 100m);
            if (before >= at || used < at) continue;
            var raised = await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into usage_notices (organization_id, metric, period_start, threshold, used, limit_value, raised_at)
                values (@OrganizationId, @metric, @PeriodStart, @threshold, @used, @Limit, @now)
                on conflict (organization_id, metric, period_start, threshold) do nothing
                """, new { scope.OrganizationId, metric = scope.Metric.Name, scope.PeriodStart, threshold, used, scope.Limit, now }, tx, cancellationToken: ct));
            if (raised == 0) continue;
            log.LogInformation("Organization {OrganizationId} reached {Threshold}% of its {Metric} limit ({Used} of {Limit})",
                scope.OrganizationId, threshold, scope.Metric.Name, used, scope.Limit);
            var content = Email(scope, threshold, used);
            var key = $"usage-notice:{scope.OrganizationId}:{scope.Metric.Name}:{scope.PeriodStart.ToUnixTimeSeconds()}:{threshold}";
            foreach (var recipient in await directory.NotificationEmailsAsync(connection, tx, scope.OrganizationId, null, ct))
                await outbox.EnqueueAsync(connection, tx, OutboxEmail.Create($"{key}:{recipient}", recipient, content, scope.OrganizationId), ct);
            await events.PublishAsync(connection, tx, EventTypes.UsageThresholdReached, scope.OrganizationId, new UsageThresholdReached(threshold, scope.Reading(used)), ct);
        }
    }

    /// <summary>A consumption refused at the limit: the period's <c>usage.limit_reached</c> when none was raised yet (<see cref="UsageEvents"/>).</summary>
    public Task RefusedAsync(DbConnection connection, DbTransaction tx, UsageChange change, UsageReading reading, DateTimeOffset now, CancellationToken ct) =>
        UsageEvents.LimitReachedAsync(events, connection, tx, change.Scope, reading, refused: true, now, ct);

    private static EmailContent Email(UsageScope scope, int threshold, long used)
    {
        var name = scope.Metric.DisplayName ?? scope.Metric.Name;
        var unit = scope.Metric.Unit ?? name;
        var when = scope.IsGauge ? "" : $" It starts again on {scope.PeriodEnd.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.";
        var what = threshold >= 100
            ? scope.IsSoft
                ? $"Your organization has used its whole {name} allowance ({used} of {scope.Limit} {unit}); further use is counted as overage."
                : $"Your organization has used its whole {name} allowance ({used} of {scope.Limit} {unit}); further use is refused until it frees up or the plan changes."
            : $"Your organization has used {threshold}% of its {name} allowance ({used} of {scope.Limit} {unit}).";
        return new EmailContent($"{threshold}% of your {name} allowance used", what + when, "<p>" + WebUtility.HtmlEncode(what + when) + "</p>");
    }
}
