using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary>An event as delivered (the envelope's fields) and as the API lists it.</summary>
internal sealed record EventResponse(string Id, string Type, DateTimeOffset Timestamp, string? OrganizationId, long Sequence, int Version, JsonElement Data);

internal sealed record EventRow
{
    public string Id { get; init; } = "";
    public string Type { get; init; } = "";
    public string? OrganizationId { get; init; }
    public long Sequence { get; init; }
    public int Version { get; init; }
    public DateTimeOffset OccurredAt { get; init; }
    public string Data { get; init; } = "{}";

    public EventResponse ToResponse()
    {
        using var data = JsonDocument.Parse(Data);
        return new EventResponse(Id, Type, OccurredAt, OrganizationId, Sequence, Version, data.RootElement.Clone());
    }
}

/// <summary>
/// One delivery of an event to one endpoint: the first (<c>kind</c> <c>first</c>), a <c>replay</c> or part of a
/// <c>recovery</c>; its outbox message's state (<c>pending</c>, <c>sending</c>, <c>sent</c> = acknowledged with a 2xx, <c>dead</c>).
/// </summary>
internal sealed record EventDeliveryView(
    string MessageId, string EndpointId, string Kind, string Status, int Attempts, string? LastError, DateTimeOffset NextAttemptAt,
    DateTimeOffset? SentAt, DateTimeOffset CreatedAt);

/// <summary>An event, its deliveries and their attempts (the newest <see cref="EventAttempts.MaxLimit"/>, newest first).</summary>
internal sealed record EventDetailResponse(EventResponse Event, IReadOnlyList<EventDeliveryView> Deliveries, IReadOnlyList<EventDeliveryAttempt> Attempts);

/// <summary>Query of <c>GET /v1/events</c> and <c>GET /v1/admin/events</c>.</summary>
internal record ListEventsRequest
{
    /// <summary>An exact type or a prefix (<c>meeting.*</c>).</summary>
    [QueryParam] public string? Type { get; init; }

    /// <summary>Only events that occurred after this time.</summary>
    [QueryParam] public DateTimeOffset? After { get; init; }

    [QueryParam] public int? Limit { get; init; }

    [QueryParam] public string? Cursor { get; init; }

    public int Take => Limit ?? 50;
}

internal sealed record ListAllEventsRequest : ListEventsRequest
{
    /// <summary>Only this organization's events.</summary>
    [QueryParam] public string? OrganizationId { get; init; }
}

internal static partial class EventQueries
{
    public const string Columns = "id, type, organization_id, sequence, version, occurred_at, data";

    [GeneratedRegex("^evt_[0-9a-f]{32}$")]
    private static partial Regex EventId();

    public static bool IsEventId(string? id) => id is not null && EventId().IsMatch(id);

    /// <summary>Event ids are <c>evt_…</c>, not the UUIDs of <see cref="Paging"/>: the cursor carries one the same way.</summary>
    public static string? DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor) || cursor.Length > 64) return null;
        try
        {
            var s = cursor.Replace('-', '+').Replace('_', '/');
            s += new string('=', (4 - s.Length % 4) % 4);
            var id = Encoding.UTF8.GetString(Convert.FromBase64String(s));
            return IsEventId(id) ? id : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static void AddListRules<T>(AbstractValidator<T> v) where T : ListEventsRequest
    {
        v.RuleFor(r => r.Limit).InclusiveBetween(1, 100).When(r => r.Limit is not null).WithMessage("limit must be between 1 and 100.");
        v.RuleFor(r => r.Cursor).Must(c => string.IsNullOrEmpty(c) || DecodeCursor(c) is not null).WithErrorCode("invalid_cursor")
            .WithMessage("cursor is not a cursor this API returned; pass nextCursor of a previous page unchanged, or leave it out for the first page.");
        v.RuleFor(r => r.Type).Must(t => t is null || EventTypes.IsValidFilter(t.Trim())).WithErrorCode("unknown_event_type")
            .WithMessage("type must be an event type of GET /v1/event-types or a prefix such as meeting.*.");
    }

    /// <summary>Events newest first; <paramref name="organizationId"/> null with <paramref name="scoped"/> false: every organization's.</summary>
    public static async Task<Page<EventResponse>> ListAsync(Db db, ListEventsRequest req, bool scoped, string? organizationId, CancellationToken ct)
    {
        var where = new StringBuilder("(@Before is null or id < @Before)");
        var parameters = new DynamicParameters();
        parameters.Add("Before", DecodeCursor(req.Cursor), DbType.String);
        parameters.Add("Limit", req.Take + 1, DbType.Int32);
        if (scoped || organizationId is not null)
        {
            where.Append(" and organization_id = @organizationId");
            parameters.Add("organizationId", organizationId, DbType.String);
        }
        if (req.After is { } after)
        {
            where.Append(" and occurred_at > @after");
            parameters.Add("after", after);
        }
        if (req.Type?.Trim() is { Length: > 0 } type && type != "*")
        {
            if (type.EndsWith(".*", StringComparison.Ordinal))
            {
                // substr rather than like: '_' in a type (api_key.*) would be a like wildcard.
                where.Append(" and substr(type, 1, @prefixLength) = @prefix");
                parameters.Add("prefix", type[..^1], DbType.String);
                parameters.Add("prefixLength", type.Length - 1, DbType.Int32);
            }
            else
            {
                where.Append(" and type = @type");
                parameters.Add("type", type, DbType.String);
            }
        }
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<EventRow>(new CommandDefinition(
            $"select {Columns} from events where {where} order by id desc limit @Limit", parameters, cancellationToken: ct))).ToList();
        var page = rows.Count > req.Take
            ? new Page<EventRow>(rows.Take(req.Take).ToList(), Paging.Encode(rows[req.Take - 1].Id))
            : new Page<EventRow>(rows, null);
        return page.Map(r => r.ToResponse());
    }

    /// <summary>The event, scoped to <paramref name="organizationId"/> when <paramref name="scoped"/>; 404 otherwise.</summary>
    public static async Task<EventRow> FindAsync(DbConnection connection, DbTransaction? tx, string id, bool scoped, string? organizationId, CancellationToken ct)
    {
        if (!IsEventId(id)) throw ProblemException.NotFound("Event");
        return await connection.QuerySingleOrDefaultAsync<EventRow>(new CommandDefinition(
                   $"select {Columns} from events where id = @id" + (scoped ? " and organization_id = @organizationId" : ""),
                   new { id, organizationId }, tx, cancellationToken: ct))
               ?? throw ProblemException.NotFound("Event");
    }

    /// <summary>
    /// The event's deliveries: its first delivery to each endpoint that existed when it occurred (the outbox key
    /// <c>event:{eventId}:{endpointId}</c>) and every replay and recovery (<c>event_redeliveries</c>), all found
    /// through the outbox's unique key index. An organization sees its own endpoints' deliveries only.
    /// </summary>
    public static async Task<IReadOnlyList<EventDeliveryView>> DeliveriesAsync(DbConnection connection, EventRow e, bool scoped, CancellationToken ct)
    {
        var endpointScope = scoped ? "organization_id = @organizationId" : "(organization_id is null or organization_id = @organizationId)";
        var endpoints = (await connection.QueryAsync<string>(new CommandDefinition(
            $"select id from event_endpoints where {endpointScope} and created_at <= @occurredAt",
            new { organizationId = e.OrganizationId, occurredAt = e.OccurredAt }, cancellationToken: ct))).ToList();
        var redeliveries = (await connection.QueryAsync<(string EndpointId, string OutboxKey, long? N)>(new CommandDefinition(
            "select endpoint_id, outbox_key, n from event_redeliveries where event_id = @id", new { id = e.Id }, cancellationToken: ct)))
            .Where(r => !scoped || endpoints.Contains(r.EndpointId)).ToList();
        var keys = endpoints.Select(ep => (Key: EventDelivery.IdempotencyKey(e.Id, ep), EndpointId: ep, Kind: "first"))
            .Concat(redeliveries.Select(r => (Key: r.OutboxKey, r.EndpointId, Kind: r.N is null ? "recovery" : "replay")))
            .ToDictionary(k => k.Key, StringComparer.Ordinal);
        if (keys.Count == 0) return [];
        var messages = await connection.QueryAsync<OutboxMessageRow>(new CommandDefinition(
            $$"""
            select id, idempotency_key, status, attempts, last_error, next_attempt_at, sent_at, created_at
            from outbox_messages where {{DialectSql.Of(connection).AnyOf("idempotency_key", "keys")}}
            """, new { keys = keys.Keys.ToArray() }, cancellationToken: ct));
        return messages
            .Select(m => new EventDeliveryView(m.Id, keys[m.IdempotencyKey].EndpointId, keys[m.IdempotencyKey].Kind, m.Status, m.Attempts,
                m.LastError, m.NextAttemptAt, m.SentAt, m.CreatedAt))
            .OrderBy(d => d.CreatedAt).ThenBy(d => d.MessageId, StringComparer.Ordinal).ToList();
    }

    /// <summary>The event with its deliveries and their logged attempts, limited to what the caller may see.</summary>
    public static async Task<EventDetailResponse> DetailAsync(DbConnection connection, EventRow e, bool scoped, CancellationToken ct)
    {
        var deliveries = await DeliveriesAsync(connection, e, scoped, ct);
        var visible = deliveries.Select(d => d.EndpointId).ToHashSet(StringComparer.Ordinal);
        var attempts = await EventAttempts.ListAsync(connection, null, null, e.Id, null, EventAttempts.MaxLimit, ct);
        return new EventDetailResponse(e.ToResponse(), deliveries, attempts.Items.Where(a => !scoped || visible.Contains(a.EndpointId)).ToList());
    }

    private sealed record OutboxMessageRow
    {
        public string Id { get; init; } = "";
        public string IdempotencyKey { get; init; } = "";
        public string Status { get; init; } = "";
        public int Attempts { get; init; }
        public string? LastError { get; init; }
        public DateTimeOffset NextAttemptAt { get; init; }
        public DateTimeOffset? SentAt { get; init; }
        public DateTimeOffset CreatedAt { get; init; }
    }
}

internal sealed record EventIdRequest
{
    public string Id { get; init; } = "";
}
