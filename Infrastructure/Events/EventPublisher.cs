using Prometheus;

namespace Backstop.Infrastructure.Events;

internal sealed class EventPublisher(TimeProvider time, IOutbox outbox) : IEventPublisher
{
    public const int Version = 1;

    /// <summary>The stream of events that belong to no organization (operational events: <c>inbox.event_dead</c>, …).</summary>
    public const string OperatorStream = "";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string NewId(TimeProvider time) => "evt_" + Guid.CreateVersion7(time.GetUtcNow()).ToString("N");

    /// <summary>One event: <see cref="PublishManyAsync"/> with a batch of one (the same statements, the same locks).</summary>
    public async Task<string> PublishAsync(DbConnection connection, DbTransaction transaction, string type, string? organizationId, object data, CancellationToken ct) =>
        (await PublishManyAsync(connection, transaction, [new EventToPublish(type, organizationId, data)], ct))[0];

    public async Task<IReadOnlyList<string>> PublishManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<EventToPublish> events, CancellationToken ct)
    {
        foreach (var e in events)
        {
            if (!EventTypes.All.ContainsKey(e.Type))
                throw new ArgumentException($"Event type '{e.Type}' is not in EventTypes.All.", nameof(events));
            ArgumentNullException.ThrowIfNull(e.Data);
        }
        if (events.Count == 0) return [];
        if (events.Count > RowsPerStatement)
        {
            var all = new List<string>(events.Count);
            foreach (var chunk in events.Chunk(RowsPerStatement)) all.AddRange(await PublishManyAsync(connection, transaction, chunk, ct));
            return all;
        }
        var now = time.GetUtcNow();

        // The upsert takes each stream's row lock until the transaction ends: concurrent changes of one organization get
        // consecutive numbers in commit order, and a rolled-back change gives its numbers back (no gap).
        // Each stream's numbers as one block: last_sequence moves by the stream's count and the block ends there. Streams
        // in a fixed order, so two batches lock shared streams in the same order (PostgreSQL) and cannot deadlock.
        var streams = events.GroupBy(e => e.OrganizationId ?? OperatorStream, StringComparer.Ordinal)
            .Select(g => (Stream: g.Key, Count: g.Count())).OrderBy(s => s.Stream, StringComparer.Ordinal).ToList();
        var sequenceSql = new System.Text.StringBuilder("insert into event_sequences (stream, last_sequence, updated_at) values ");
        var sequenceParameters = new DynamicParameters(new { now });
        for (var i = 0; i < streams.Count; i++)
        {
            sequenceSql.Append(i == 0 ? "" : ", ").Append($"(@s{i}, @n{i}, @now)");
            sequenceParameters.Add($"s{i}", streams[i].Stream);
            sequenceParameters.Add($"n{i}", (long)streams[i].Count);
        }
        sequenceSql.Append(" on conflict (stream) do update set last_sequence = event_sequences.last_sequence + excluded.last_sequence, updated_at = @now returning stream, last_sequence");
        var last = (await connection.QueryAsync<(string Stream, long LastSequence)>(new CommandDefinition(sequenceSql.ToString(), sequenceParameters, transaction, cancellationToken: ct)))
            .ToDictionary(r => r.Stream, r => r.LastSequence, StringComparer.Ordinal);
        var next = streams.ToDictionary(s => s.Stream, s => last[s.Stream] - s.Count + 1, StringComparer.Ordinal);

        var ids = new List<string>(events.Count);
        var insert = new System.Text.StringBuilder("insert into events (id, type, organization_id, sequence, version, occurred_at, data, created_at) values ");
        var parameters = new DynamicParameters(new { now, version = Version });
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var id = NewId(time);
            ids.Add(id);
            var stream = e.OrganizationId ?? OperatorStream;
            insert.Append(i == 0 ? "" : ", ").Append($"(@id{i}, @type{i}, @organizationId{i}, @sequence{i}, @version, @now, @data{i}, @now)");
            parameters.Add($"id{i}", id);
            parameters.Add($"type{i}", e.Type);
            parameters.Add($"organizationId{i}", e.OrganizationId, System.Data.DbType.String);
            parameters.Add($"sequence{i}", next[stream]++);
            parameters.Add($"data{i}", JsonSerializer.Serialize(e.Data, e.Data.GetType(), Json));
        }
        await connection.ExecuteAsync(new CommandDefinition(insert.ToString(), parameters, transaction, cancellationToken: ct));

        var organizations = events.Where(e => e.OrganizationId is not null).Select(e => e.OrganizationId!).Distinct(StringComparer.Ordinal).ToArray();
        var endpoints = (await connection.QueryAsync<EventEndpointTarget>(new CommandDefinition(
            organizations.Length == 0
                ? "select id, organization_id, event_types from event_endpoints where deleted_at is null and enabled = @enabled and organization_id is null"
                : $"""
                  select id, organization_id, event_types from event_endpoints
                  where deleted_at is null and enabled = @enabled and organization_id is null
                  union all
                  select id, organization_id, event_types from event_endpoints
                  where deleted_at is null and enabled = @enabled and {DialectSql.Of(connection).AnyOf("organization_id", "organizations")}
                  """, new { enabled = true, organizations }, transaction, cancellationToken: ct))).ToList();
        var filters = endpoints.ToDictionary(e => e.Id, e => ParseFilter(e.EventTypes), StringComparer.Ordinal);
        var deliveries = new List<OutboxEnvelope>();
        for (var i = 0; i < events.Count; i++)
        {
            var (e, id) = (events[i], ids[i]);
            foreach (var endpoint in endpoints)
                if ((endpoint.OrganizationId is null || endpoint.OrganizationId == e.OrganizationId) && EventTypes.Matches(filters[endpoint.Id], e.Type))
                    deliveries.Add(OutboxEnvelope.Create(EventDelivery.Channel, EventDelivery.IdempotencyKey(id, endpoint.Id), new EventDelivery.Payload(id, endpoint.Id), reference: id)
                        with { OrganizationId = endpoint.OrganizationId, Target = endpoint.Id });
        }
        if (deliveries.Count > 0) await outbox.EnqueueManyAsync(connection, transaction, deliveries, ct);
        foreach (var e in events) EventMetrics.Created.WithLabels(e.Type).Inc();
        return ids;
    }

    /// <summary>Events per multi-row insert (5 parameters each, far below both databases' bound-parameter limits).</summary>
    private const int RowsPerStatement = 1000;

    public Task<int> RetireOrganizationEndpointsAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            update event_endpoints set enabled = @enabled, deleted_at = @now, updated_at = @now
            where organization_id = @organizationId and deleted_at is null
            """, new { enabled = false, now = time.GetUtcNow(), organizationId }, transaction, cancellationToken: ct));

    public static IReadOnlyList<string>? ParseFilter(string? stored) =>
        string.IsNullOrEmpty(stored) ? null : JsonSerializer.Deserialize<List<string>>(stored, Json);
}
