namespace Backstop.Infrastructure.Events;

/// <summary>One attempt to deliver an event to an endpoint (a row of <c>event_delivery_attempts</c>).</summary>
/// <param name="Outcome"><see cref="EventAttemptOutcome"/>: sent, failed, refused or skipped.</param>
/// <param name="ResponseBody">The first 4 KiB of the answer (UTF-8; null when no answer came).</param>
public sealed record EventDeliveryAttempt(
    string Id,
    string EventId,
    string EndpointId,
    string OutboxMessageId,
    int Attempt,
    DateTimeOffset StartedAt,
    long DurationMs,
    int? ResponseStatus,
    string? ResponseBody,
    string? Error,
    string Outcome);

/// <summary>A page of attempts, newest first; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record EventAttemptPage(IReadOnlyList<EventDeliveryAttempt> Items, string? NextCursor);

/// <summary>
/// The delivery log. Written by the event channel, one row per attempt in a short transaction of its own; read by
/// the API (<c>GET …/event-endpoints/{id}/attempts</c>, <c>GET /v1/events/{id}</c>). Pruned after
/// <c>Events:AttemptRetentionDays</c> by the <c>event-attempts-retention</c> job.
/// </summary>
internal sealed class EventAttempts(Db db)
{
    public const int MaxLimit = 100;

    /// <summary>
    /// Attempts of one endpoint, or of one event, or of both (at least one is required), newest first. The cursor is
    /// the last id of the previous page (ids are UUIDv7: time-ordered).
    /// </summary>
    public async Task<EventAttemptPage> ListAsync(string? endpointId, string? eventId, string? cursor, int limit, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await ListAsync(connection, null, endpointId, eventId, cursor, limit, ct);
    }

    public static async Task<EventAttemptPage> ListAsync(DbConnection connection, DbTransaction? transaction, string? endpointId, string? eventId,
        string? cursor, int limit, CancellationToken ct)
    {
        if (endpointId is null && eventId is null) throw new ArgumentException("An endpoint id or an event id is required.");
        limit = Math.Clamp(limit, 1, MaxLimit);
        var rows = (await connection.QueryAsync<AttemptRow>(new CommandDefinition(
            """
            select id, event_id, endpoint_id, outbox_message_id, attempt, started_at, duration_ms, response_status, response_body, error, outcome
            from event_delivery_attempts
            where (@endpointId is null or endpoint_id = @endpointId) and (@eventId is null or event_id = @eventId)
              and (@cursor is null or id < @cursor)
            order by id desc
            limit @take
            """, new { endpointId, eventId, cursor, take = limit + 1 }, transaction, cancellationToken: ct))).ToList();
        var items = rows.Take(limit).Select(r => r.ToRecord()).ToList();
        return new EventAttemptPage(items, rows.Count > limit ? items[^1].Id : null);
    }

    internal static Task InsertAsync(DbConnection connection, DbTransaction transaction, EventDeliveryAttempt a, DateTimeOffset now) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            insert into event_delivery_attempts (id, event_id, endpoint_id, outbox_message_id, attempt, started_at, duration_ms,
                                                 response_status, response_body, error, outcome, created_at)
            values (@Id, @EventId, @EndpointId, @OutboxMessageId, @Attempt, @StartedAt, @DurationMs, @ResponseStatus, @ResponseBody, @Error, @Outcome, @now)
            """, new { a.Id, a.EventId, a.EndpointId, a.OutboxMessageId, a.Attempt, a.StartedAt, a.DurationMs, a.ResponseStatus, a.ResponseBody, a.Error, a.Outcome, now },
            transaction));

    private sealed class AttemptRow
    {
        public string Id { get; init; } = "";
        public string EventId { get; init; } = "";
        public string EndpointId { get; init; } = "";
        public string OutboxMessageId { get; init; } = "";
        public long Attempt { get; init; }
        public DateTimeOffset StartedAt { get; init; }
        public long DurationMs { get; init; }
        public long? ResponseStatus { get; init; }
        public string? ResponseBody { get; init; }
        public string? Error { get; init; }
        public string Outcome { get; init; } = "";

        public EventDeliveryAttempt ToRecord() => new(Id, EventId, EndpointId, OutboxMessageId, (int)Attempt, StartedAt, DurationMs,
            ResponseStatus is { } s ? (int)s : null, ResponseBody, Error, Outcome);
    }
}
