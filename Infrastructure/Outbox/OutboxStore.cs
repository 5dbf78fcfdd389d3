using Prometheus;

namespace Backstop.Infrastructure.Outbox;

/// <summary>The <see cref="IOutbox"/>: one <c>insert … on conflict (idempotency_key) do nothing</c> in the caller's transaction.</summary>
internal sealed class OutboxStore(TimeProvider time, IOptions<OutboxOptions> options, OutboxSignal signal, IHttpContextAccessor http) : IOutbox
{
    /// <summary>
    /// 1,000 rows of 7 parameters (7,000) stay far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters per statement.
    /// </summary>
    public const int RowsPerInsert = 1000;

    public async Task<int> EnqueueManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<OutboxEnvelope> messages, CancellationToken ct)
    {
        // on conflict do nothing cannot skip a key repeated within one statement on PostgreSQL (it raises instead).
        var distinct = messages.DistinctBy(m => m.IdempotencyKey, StringComparer.Ordinal).ToList();
        var now = time.GetUtcNow();
        var correlationId = http.HttpContext?.TraceIdentifier ?? System.Diagnostics.Activity.Current?.TraceId.ToString();
        var stored = 0;
        foreach (var chunk in distinct.Chunk(RowsPerInsert))
        {
            var sql = new System.Text.StringBuilder(
                """
                insert into outbox_messages (id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts,
                                             next_attempt_at, correlation_id, organization_id, target, lane, created_at, updated_at)
                values
                """);
            var parameters = new DynamicParameters(new { now, correlationId });
            for (var i = 0; i < chunk.Length; i++)
            {
                var message = chunk[i];
                ArgumentException.ThrowIfNullOrWhiteSpace(message.Channel);
                ArgumentException.ThrowIfNullOrWhiteSpace(message.IdempotencyKey);
                sql.Append(i == 0 ? "\n" : ",\n")
                    .Append($"(@id{i}, @channel{i}, @key{i}, @payload{i}, @reference{i}, @sensitive{i}, 'pending', 0, @maxAttempts{i}, @now, @correlationId, @organizationId{i}, @target{i}, @lane{i}, @now, @now)");
                parameters.Add($"id{i}", Ids.New(time));
                parameters.Add($"channel{i}", message.Channel);
                parameters.Add($"key{i}", message.IdempotencyKey);
                parameters.Add($"payload{i}", message.Payload.GetRawText());
                parameters.Add($"reference{i}", message.Reference);
                parameters.Add($"sensitive{i}", message.Sensitive);
                parameters.Add($"organizationId{i}", message.OrganizationId, System.Data.DbType.String);
                parameters.Add($"target{i}", message.Target, System.Data.DbType.String);
                parameters.Add($"lane{i}", Lane(message));
                parameters.Add($"maxAttempts{i}", options.Value.ScheduleFor(message.Channel).MaxAttempts);
            }
            sql.Append("\non conflict (idempotency_key) do nothing\nreturning channel");
            var channels = (await connection.QueryAsync<string>(new CommandDefinition(sql.ToString(), parameters, transaction, cancellationToken: ct))).ToList();
            foreach (var channel in channels) OutboxMetrics.Enqueued.WithLabels(channel).Inc();
            stored += channels.Count;
        }
        if (stored > 0) signal.Notify();
        return stored;
    }

    public async Task<EnqueueResult> EnqueueAsync(DbConnection connection, DbTransaction transaction, OutboxEnvelope message, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(message.Channel);
        ArgumentException.ThrowIfNullOrWhiteSpace(message.IdempotencyKey);
        var now = time.GetUtcNow();
        var id = Ids.New(time);
        var (maxAttempts, _) = options.Value.ScheduleFor(message.Channel);
        // The request id of the request that caused the message (carried into the dispatcher's log lines).
        var correlationId = http.HttpContext?.TraceIdentifier ?? System.Diagnostics.Activity.Current?.TraceId.ToString();
        var inserted = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into outbox_messages (id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts,
                                         next_attempt_at, correlation_id, organization_id, target, lane, created_at, updated_at)
            values (@id, @Channel, @IdempotencyKey, @payload, @Reference, @Sensitive, 'pending', 0, @maxAttempts, @now, @correlationId, @OrganizationId,
                    @Target, @lane, @now, @now)
            on conflict (idempotency_key) do nothing
            returning id
            """,
            new
            {
                id, message.Channel, message.IdempotencyKey, payload = message.Payload.GetRawText(), message.Reference, message.Sensitive, maxAttempts, now,
                correlationId, message.OrganizationId, message.Target, lane = Lane(message),
            },
            transaction, cancellationToken: ct));
        if (inserted is null)
        {
            var existing = await connection.QuerySingleAsync<string>(new CommandDefinition(
                "select id from outbox_messages where idempotency_key = @IdempotencyKey",
                new { message.IdempotencyKey }, transaction, cancellationToken: ct));
            return new EnqueueResult(existing, false);
        }

        OutboxMetrics.Enqueued.WithLabels(message.Channel).Inc();
        // Before commit the dispatcher may not see the row yet (PostgreSQL); it then finds it at its next poll.
        signal.Notify();
        return new EnqueueResult(id, true);
    }

    /// <summary>The fairness partition of a claim: the target, else the organization, else '' (see OutboxDispatcher).</summary>
    internal static string Lane(OutboxEnvelope message) => message.Target ?? message.OrganizationId ?? "";

    public async Task<int> CancelPendingAsync(DbConnection connection, DbTransaction transaction, string organizationId, string reason, CancellationToken ct)
    {
        var channels = (await connection.QueryAsync<string>(new CommandDefinition(
            """
            update outbox_messages set status = 'dead', last_error = @error, updated_at = @now
            where organization_id = @organizationId and status = 'pending'
            returning channel
            """, new { organizationId, error = "cancelled: " + reason, now = time.GetUtcNow() }, transaction, cancellationToken: ct))).ToList();
        foreach (var channel in channels) OutboxMetrics.Dead.WithLabels(channel).Inc();
        return channels.Count;
    }
}
