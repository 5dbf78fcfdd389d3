using System.Globalization;
using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Stats;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Records an attempt and what it says about the endpoint's health, in one transaction (the dispatcher's group commit
/// of delivery results, or one of its own): a success clears
/// <c>failing_since</c>; a failure sets it if unset, and when it has failed continuously for
/// <c>Events:DisableAfterDays</c> disables the endpoint — <c>enabled = false</c>, <c>disabled_at</c>,
/// <c>disabled_reason</c> — with an <c>endpoint.disabled</c> event to the operator's endpoints, an email to the
/// organization's owners and an audit row, all in that transaction. The disabling update is conditional on the
/// endpoint still being enabled, so of concurrent failing deliveries exactly one disables it (and one email goes).
/// Re-enabling (events-api) sets <c>enabled = true</c> and clears <c>failing_since</c>.
/// </summary>
internal sealed class EventEndpointHealth(
    Db db,
    TimeProvider time,
    IEventPublisher events,
    IOutbox outbox,
    IOrganizationDirectory directory,
    IAuditLog audit,
    IOptions<EventsOptions> options,
    ILogger<EventEndpointHealth> log)
{
    public const string Actor = "events:delivery";

    public Task RecordAsync(EventDeliveryAttempt attempt, string endpointId, CancellationToken ct) =>
        db.InTransactionAsync((connection, tx) => RecordAsync(connection, tx, attempt, endpointId, ct), ct);

    /// <summary>As <see cref="RecordAsync(EventDeliveryAttempt, string, CancellationToken)"/>, in the caller's transaction (the dispatcher's group commit of results).</summary>
    /// <param name="count">Whether to add the attempt to the hourly counts here; the dispatcher's group commit adds it with the group's (<see cref="Count"/>).</param>
    public async Task RecordAsync(DbConnection connection, DbTransaction tx, EventDeliveryAttempt attempt, string endpointId, CancellationToken ct, bool count = true)
    {
        var now = time.GetUtcNow();
        await EventAttempts.InsertAsync(connection, tx, attempt, now);
        if (count) await HourlyCounts.AddAsync(connection, tx, now, [Count(attempt)], ct);
        if (attempt.Outcome == EventAttemptOutcome.Sent)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "update event_endpoints set failing_since = null, updated_at = @now where id = @endpointId and failing_since is not null",
                new { endpointId, now }, tx, cancellationToken: ct));
            return;
        }
        if (attempt.Outcome is not (EventAttemptOutcome.Failed or EventAttemptOutcome.Refused)) return;

        var failingSince = await connection.QuerySingleOrDefaultAsync<DateTimeOffset?>(new CommandDefinition(
            """
            update event_endpoints set failing_since = coalesce(failing_since, @now)
            where id = @endpointId and deleted_at is null
            returning failing_since
            """, new { endpointId, now }, tx, cancellationToken: ct));
        var disableAfter = TimeSpan.FromDays(options.Value.DisableAfterDays);
        if (failingSince is not { } since || now - since < disableAfter) return;
        await DisableAsync(connection, tx, endpointId, since, now, ct);
    }

    /// <summary>The hourly count of an attempt: event deliveries by outcome.</summary>
    public static HourlyIncrement Count(EventDeliveryAttempt attempt) => new(HourlyCountKinds.EventDelivery, HourlyCountKinds.AllSubjects, attempt.Outcome);

    private async Task DisableAsync(DbConnection connection, DbTransaction tx, string endpointId, DateTimeOffset since, DateTimeOffset now, CancellationToken ct)
    {
        var reason = $"Deliveries failed continuously since {since.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC "
                     + $"({options.Value.DisableAfterDays} days or more).";
        var endpoint = await connection.QuerySingleOrDefaultAsync<DisabledEndpoint>(new CommandDefinition(
            """
            update event_endpoints set enabled = @disabled, disabled_at = @now, disabled_reason = @reason, updated_at = @now
            where id = @endpointId and enabled = @enabled and deleted_at is null
            returning id, organization_id, url
            """, new { endpointId, now, reason, enabled = true, disabled = false }, tx, cancellationToken: ct));
        if (endpoint is null) return; // already disabled (by a concurrent failure, or by hand)

        // To the operator's endpoints (no organization); never the secret.
        await events.PublishAsync(connection, tx, EventTypes.EndpointDisabled, null,
            new { id = endpoint.Id, url = endpoint.Url, organizationId = endpoint.OrganizationId, reason }, ct);

        var emails = 0;
        if (endpoint.OrganizationId is { } organizationId)
        {
            var content = Email(endpoint.Url, reason);
            var messages = (await directory.NotificationEmailsAsync(connection, tx, organizationId, null, ct))
                .Select(r => r.Trim()).Where(r => r.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)
                .Select(r => OutboxEmail.Create($"event-endpoint-disabled:{endpoint.Id}:{now.ToUnixTimeMilliseconds()}:{r.ToLowerInvariant()}", r, content, endpoint.Id)
                    with { OrganizationId = organizationId })
                .ToList();
            if (messages.Count > 0) emails = await outbox.EnqueueManyAsync(connection, tx, messages, ct);
        }

        await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventEndpointDisable, "event_endpoint", endpoint.Id, endpoint.OrganizationId,
            new { enabled = false, reason, failingSince = since }, Actor), ct);
        log.LogWarning("Event endpoint {EndpointId} disabled: {Reason} ({Emails} owner emails queued)", endpoint.Id, reason, emails);
    }

    private static EmailContent Email(string url, string reason)
    {
        var text = $"""
            Backstop stopped sending events to your endpoint {url}.

            {reason}

            Fix the endpoint, then enable it again through the API; the events it missed can be recovered
            (the endpoint's recover call) once it answers again.
            """;
        var html = "<p>Backstop stopped sending events to your endpoint <code>" + System.Net.WebUtility.HtmlEncode(url) + "</code>.</p>"
                   + "<p>" + System.Net.WebUtility.HtmlEncode(reason) + "</p>"
                   + "<p>Fix the endpoint, then enable it again and recover the events it missed.</p>";
        return new EmailContent("Event endpoint disabled", text, html);
    }

    private sealed class DisabledEndpoint
    {
        public string Id { get; init; } = "";
        public string? OrganizationId { get; init; }
        public string Url { get; init; } = "";
    }
}
