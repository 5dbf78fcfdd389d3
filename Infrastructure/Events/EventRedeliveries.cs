using System.Data;
using System.Text;

namespace Backstop.Infrastructure.Events;

/// <summary>A bulk recovery and how far it got: <c>enqueued</c> of <c>total</c> (counted when it was asked) are on their way.</summary>
internal sealed record EventRecoveryResponse
{
    public string Id { get; init; } = "";
    public string EndpointId { get; init; } = "";
    public DateTimeOffset Since { get; init; }
    public string Status { get; init; } = "";
    public int Total { get; init; }
    public int Enqueued { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
}

/// <summary>A replay's new delivery.</summary>
internal sealed record EventReplayResponse(string EventId, string EndpointId, int Replay, string MessageId);

/// <summary>
/// Sends events again: one event to one endpoint (a replay), or every event since a time that an endpoint has not
/// acknowledged (a recovery, worked in bounded batches by <see cref="EventRecoveryJob"/>). Each redelivery is a new
/// outbox message of the <c>event</c> channel with the event's own id (so the consumer's <c>webhook-id</c>
/// deduplication still applies) and a row in <c>event_redeliveries</c> naming its outbox key.
/// </summary>
internal sealed class EventRedeliveries(Db db, TimeProvider time, IOutbox outbox, IAuditLog audit, IOptions<OutboxOptions> outboxOptions)
{
    /// <summary>
    /// Events looked at per batch of a recovery: one transaction holds SQLite's writer lock for one batch only, and
    /// enqueues at most this many messages (one multi-row insert).
    /// </summary>
    public const int BatchSize = 500;

    private const string RecoveryColumns = "id, endpoint_id, since, status, total, enqueued, created_at, finished_at";

    public async Task<EventReplayResponse> ReplayAsync(EndpointOwner owner, string endpointId, string eventId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var endpoint = await EnabledEndpointAsync(connection, tx, owner, endpointId, ct);
            var e = await EventQueries.FindAsync(connection, tx, eventId, scoped: endpoint.OrganizationId is not null, endpoint.OrganizationId, ct);
            if (!EventTypes.Matches(EventPublisher.ParseFilter(endpoint.EventTypes), e.Type))
                throw new ProblemException(422, "event_not_subscribed", $"The endpoint's eventTypes do not include {e.Type}; change its filter first.");
            // n = the pair's replays so far + 1. The outbox key is the arbiter: a concurrent replay that took the same
            // n makes the insert a no-op (PostgreSQL waits for it to commit first), and the next n is tried.
            var n = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "select coalesce(max(n), 0) from event_redeliveries where event_id = @eventId and endpoint_id = @endpointId",
                new { eventId, endpointId }, tx, cancellationToken: ct));
            for (var attempt = 0; attempt < 100; attempt++)
            {
                n++;
                var key = EventDelivery.IdempotencyKey(eventId, endpointId) + ":replay:" + n;
                var enqueued = await outbox.EnqueueAsync(connection, tx, Envelope(eventId, endpointId, key, endpoint.OrganizationId), ct);
                if (!enqueued.Created) continue;
                await InsertRedeliveriesAsync(connection, tx, [(eventId, endpointId, n, key, null)], now, ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventReplay, "event_endpoint", endpointId, owner.OrganizationId,
                    new { eventId, e.Type, replay = n, messageId = enqueued.Id }), ct);
                return new EventReplayResponse(eventId, endpointId, n, enqueued.Id);
            }
            throw new ProblemException(409, "replay_conflict", "Too many replays of this event to this endpoint at once; try again.");
        }, ct);
    }

    /// <summary>
    /// Counts (dry run) or starts a recovery: every event since <paramref name="since"/> of the endpoint's scope
    /// (its organization's, or all for an operator's endpoint) that its filter matches and that it has not
    /// acknowledged, up to the newest event of that scope now. <paramref name="since"/> may go back no further than
    /// the outbox keeps sent messages (<c>Outbox:RetentionDays</c>): before that, an acknowledgement is forgotten
    /// and the event would be sent again although it was delivered.
    /// </summary>
    public async Task<(int Total, EventRecoveryResponse? Recovery)> RecoverAsync(EndpointOwner owner, string endpointId, DateTimeOffset since, bool dryRun, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var horizon = now.AddDays(-outboxOptions.Value.RetentionDays);
        if (since < horizon)
            throw new ProblemException(422, "recovery_window_exceeded",
                $"since may go back at most {outboxOptions.Value.RetentionDays} days (Outbox:RetentionDays): older acknowledgements are no longer kept.");
        if (since > now) throw new ProblemException(422, "since_in_future", "since must not be in the future.");
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var endpoint = await EnabledEndpointAsync(connection, tx, owner, endpointId, ct);
            var scope = Candidates(endpoint, since, after: "", upper: null);
            var upper = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
                $"select max(e.id) from events e where {scope.Where}", scope.Parameters, tx, cancellationToken: ct));
            var bounded = Candidates(endpoint, since, after: "", upper: upper ?? "");
            var total = upper is null ? 0 : await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                $"select count(*) from events e where {bounded.Where} and {Unacknowledged}", bounded.Parameters, tx, cancellationToken: ct));
            if (dryRun) return (total, (EventRecoveryResponse?)null);
            var id = Ids.New(time);
            var status = total == 0 ? EventRecoveryStatus.Completed : EventRecoveryStatus.Running;
            var recovery = await connection.QuerySingleAsync<EventRecoveryResponse>(new CommandDefinition(
                $"""
                insert into event_recoveries (id, endpoint_id, organization_id, since, upper_event_id, status, total, enqueued, after_event_id, finished_at, created_at, updated_at)
                values (@id, @endpointId, @organizationId, @since, @upper, @status, @total, 0, null, @finishedAt, @now, @now)
                returning {RecoveryColumns}
                """,
                new { id, endpointId, organizationId = endpoint.OrganizationId, since, upper, status, total, finishedAt = total == 0 ? now : (DateTimeOffset?)null, now },
                tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventRecoveryCreate, "event_recovery", id, owner.OrganizationId,
                new { endpointId, since, total }), ct);
            return (total, recovery);
        }, ct);
    }

    public async Task<EventRecoveryResponse> GetRecoveryAsync(EndpointOwner owner, string endpointId, string recoveryId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await EventEndpointStore.FindAsync(connection, null, owner, endpointId, ct);
        return await connection.QuerySingleOrDefaultAsync<EventRecoveryResponse>(new CommandDefinition(
                   $"select {RecoveryColumns} from event_recoveries where id = @recoveryId and endpoint_id = @endpointId",
                   new { recoveryId, endpointId }, cancellationToken: ct))
               ?? throw ProblemException.NotFound("Recovery");
    }

    /// <summary>Stops a running recovery: what it enqueued stays enqueued; nothing more is. A finished one is 409.</summary>
    public async Task<EventRecoveryResponse> CancelRecoveryAsync(EndpointOwner owner, string endpointId, string recoveryId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            await EventEndpointStore.FindAsync(connection, tx, owner, endpointId, ct);
            var cancelled = await connection.QuerySingleOrDefaultAsync<EventRecoveryResponse>(new CommandDefinition(
                $"""
                update event_recoveries set status = '{EventRecoveryStatus.Cancelled}', finished_at = @now, updated_at = @now
                where id = @recoveryId and endpoint_id = @endpointId and status = '{EventRecoveryStatus.Running}'
                returning {RecoveryColumns}
                """, new { recoveryId, endpointId, now }, tx, cancellationToken: ct));
            if (cancelled is null)
            {
                var status = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    "select status from event_recoveries where id = @recoveryId and endpoint_id = @endpointId", new { recoveryId, endpointId }, tx, cancellationToken: ct))
                    ?? throw ProblemException.NotFound("Recovery");
                throw new ProblemException(409, "recovery_finished", $"The recovery is {status} already.");
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.EventRecoveryCancel, "event_recovery", recoveryId, owner.OrganizationId,
                new { endpointId, cancelled.Total, cancelled.Enqueued }), ct);
            return cancelled;
        }, ct);
    }

    private sealed record RecoveryWork
    {
        public string Id { get; init; } = "";
        public string EndpointId { get; init; } = "";
        public DateTimeOffset Since { get; init; }
        public string? UpperEventId { get; init; }
        public string? AfterEventId { get; init; }
    }

    /// <summary>
    /// Works one batch of a running recovery in one transaction: enqueues the next unacknowledged events and moves
    /// the recovery's position with a conditional update (a concurrent run that moved it first rolls this batch
    /// back; the outbox keys make a repeated batch a no-op anyway). Answers how many were enqueued and whether the
    /// recovery is finished (true too when it was not running, or another run moved it).
    /// </summary>
    public async Task<(int Enqueued, bool Finished)> ProcessBatchAsync(string recoveryId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        await using var tx = await Db.BeginAsync(connection, ct);
        var work = await connection.QuerySingleOrDefaultAsync<RecoveryWork>(new CommandDefinition(
            $"select id, endpoint_id, since, upper_event_id, after_event_id from event_recoveries where id = @recoveryId and status = '{EventRecoveryStatus.Running}'",
            new { recoveryId }, tx, cancellationToken: ct));
        if (work is null) return (0, true);
        var endpoint = await connection.QuerySingleOrDefaultAsync<EventEndpointRow>(new CommandDefinition(
            $"select {EventEndpointStore.Columns} from event_endpoints where id = @id and deleted_at is null", new { id = work.EndpointId }, tx, cancellationToken: ct));
        var after = work.AfterEventId ?? "";
        var candidates = endpoint is null ? null : Candidates(endpoint, work.Since, after, work.UpperEventId ?? "");
        var batch = candidates is null ? [] : (await connection.QueryAsync<(string Id, string Type)>(new CommandDefinition(
            $"select e.id, e.type from events e where {candidates.Where} order by e.id limit {BatchSize}",
            candidates.Parameters, tx, cancellationToken: ct))).ToList();
        // The batch is read without the acknowledgement check (the position must pass acknowledged events too);
        // which of them still need sending is one query over the batch.
        var unacknowledged = new HashSet<string>(StringComparer.Ordinal);
        if (batch.Count > 0)
        {
            var p = new DynamicParameters(new { ids = batch.Select(b => b.Id).ToArray() });
            p.Add("endpointId", work.EndpointId, DbType.String);
            unacknowledged.UnionWith(await connection.QueryAsync<string>(new CommandDefinition(
                $"select e.id from events e where {DialectSql.Of(connection).AnyOf("e.id", "ids")} and {Unacknowledged}", p, tx, cancellationToken: ct)));
        }
        var toSend = batch.Where(b => unacknowledged.Contains(b.Id)).Select(b => b.Id).ToList();
        var keys = toSend.Select(id => (EventId: id, Key: EventDelivery.IdempotencyKey(id, work.EndpointId) + ":recovery:" + work.Id)).ToList();
        if (keys.Count > 0)
        {
            await outbox.EnqueueManyAsync(connection, tx, keys.Select(k => Envelope(k.EventId, work.EndpointId, k.Key, endpoint!.OrganizationId)).ToList(), ct);
            await InsertRedeliveriesAsync(connection, tx, keys.Select(k => (k.EventId, work.EndpointId, (int?)null, k.Key, (string?)work.Id)).ToList(), now, ct);
        }
        var done = endpoint is null || batch.Count < BatchSize;
        var moved = await connection.ExecuteAsync(new CommandDefinition(
            """
            update event_recoveries
            set after_event_id = @position, enqueued = enqueued + @count, status = @status, finished_at = @finishedAt, updated_at = @now
            where id = @recoveryId and status = @running and coalesce(after_event_id, '') = @after
            """,
            new
            {
                recoveryId, after, now, count = keys.Count, running = EventRecoveryStatus.Running,
                position = batch.Count > 0 ? batch[^1].Id : work.AfterEventId,
                // A deleted endpoint's recovery ends (cancelled); else it completes with its last short batch.
                status = endpoint is null ? EventRecoveryStatus.Cancelled : done ? EventRecoveryStatus.Completed : EventRecoveryStatus.Running,
                finishedAt = done ? now : (DateTimeOffset?)null,
            }, tx, cancellationToken: ct));
        if (moved == 0)
        {
            await tx.RollbackAsync(ct);
            return (0, true);
        }
        await tx.CommitAsync(ct);
        return (keys.Count, done);
    }

    /// <summary>Recoveries still running, oldest first.</summary>
    public async Task<IReadOnlyList<string>> RunningAsync(int limit, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            $"select id from event_recoveries where status = '{EventRecoveryStatus.Running}' order by created_at, id limit @limit",
            new { limit }, cancellationToken: ct))).ToList();
    }

    /// <summary>
    /// The event has no <c>sent</c> outbox message for the pair: neither its first delivery (the key
    /// <c>event:{id}:{endpointId}</c>) nor any redelivery. Both lookups go through the outbox's unique key index.
    /// </summary>
    private const string Unacknowledged =
        """
        not exists (select 1 from outbox_messages o where o.idempotency_key = 'event:' || e.id || ':' || @endpointId and o.status = 'sent')
        and not exists (select 1 from event_redeliveries r join outbox_messages o on o.idempotency_key = r.outbox_key
                        where r.event_id = e.id and r.endpoint_id = @endpointId and o.status = 'sent')
        """;

    private sealed record Scope(string Where, DynamicParameters Parameters);

    /// <summary>
    /// The events an endpoint is owed from <paramref name="since"/>: its organization's (or every one, for an
    /// operator's endpoint) whose type its filter matches, after <paramref name="after"/> and up to
    /// <paramref name="upper"/> by id. The filter becomes SQL (exact types and <c>prefix.*</c>), so a count is one statement.
    /// </summary>
    private static Scope Candidates(EventEndpointRow endpoint, DateTimeOffset since, string after, string? upper)
    {
        var where = new StringBuilder("e.occurred_at >= @since and e.id > @after");
        var p = new DynamicParameters();
        p.Add("since", since);
        p.Add("after", after, DbType.String);
        p.Add("endpointId", endpoint.Id, DbType.String);
        if (upper is not null)
        {
            where.Append(" and e.id <= @upper");
            p.Add("upper", upper, DbType.String);
        }
        if (endpoint.OrganizationId is not null)
        {
            where.Append(" and e.organization_id = @organizationId");
            p.Add("organizationId", endpoint.OrganizationId, DbType.String);
        }
        var filter = EventPublisher.ParseFilter(endpoint.EventTypes);
        if (filter is { Count: > 0 } && !filter.Contains("*"))
        {
            var alternatives = new List<string>();
            for (var i = 0; i < filter.Count; i++)
            {
                if (filter[i].EndsWith(".*", StringComparison.Ordinal))
                {
                    alternatives.Add($"substr(e.type, 1, @prefixLength{i}) = @prefix{i}");
                    p.Add($"prefix{i}", filter[i][..^1], DbType.String);
                    p.Add($"prefixLength{i}", filter[i].Length - 1, DbType.Int32);
                }
                else
                {
                    alternatives.Add($"e.type = @type{i}");
                    p.Add($"type{i}", filter[i], DbType.String);
                }
            }
            where.Append(" and (").Append(string.Join(" or ", alternatives)).Append(')');
        }
        return new Scope(where.ToString(), p);
    }

    private static async Task<EventEndpointRow> EnabledEndpointAsync(DbConnection connection, DbTransaction tx, EndpointOwner owner, string endpointId, CancellationToken ct)
    {
        var endpoint = await EventEndpointStore.FindAsync(connection, tx, owner, endpointId, ct);
        if (!endpoint.Enabled)
            throw new ProblemException(409, "endpoint_disabled", "The endpoint is disabled and would receive nothing; enable it first (POST …/enable).");
        return endpoint;
    }

    private static OutboxEnvelope Envelope(string eventId, string endpointId, string key, string? organizationId) =>
        OutboxEnvelope.Create(EventDelivery.Channel, key, new EventDelivery.Payload(eventId, endpointId), reference: eventId) with { OrganizationId = organizationId, Target = endpointId };

    private async Task InsertRedeliveriesAsync(DbConnection connection, DbTransaction tx,
        IReadOnlyList<(string EventId, string EndpointId, int? N, string Key, string? RecoveryId)> rows, DateTimeOffset now, CancellationToken ct)
    {
        foreach (var chunk in rows.Chunk(500))
        {
            var sql = new StringBuilder("insert into event_redeliveries (id, event_id, endpoint_id, n, outbox_key, recovery_id, created_at, updated_at) values ");
            var p = new DynamicParameters(new { now });
            for (var i = 0; i < chunk.Length; i++)
            {
                sql.Append(i == 0 ? "" : ", ").Append($"(@id{i}, @event{i}, @endpoint{i}, @n{i}, @key{i}, @recovery{i}, @now, @now)");
                p.Add($"id{i}", Ids.New(time), DbType.String);
                p.Add($"event{i}", chunk[i].EventId, DbType.String);
                p.Add($"endpoint{i}", chunk[i].EndpointId, DbType.String);
                p.Add($"n{i}", chunk[i].N, DbType.Int32);
                p.Add($"key{i}", chunk[i].Key, DbType.String);
                p.Add($"recovery{i}", chunk[i].RecoveryId, DbType.String);
            }
            sql.Append(" on conflict (outbox_key) do nothing");
            await connection.ExecuteAsync(new CommandDefinition(sql.ToString(), p, tx, cancellationToken: ct));
        }
    }
}
