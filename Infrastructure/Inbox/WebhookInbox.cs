using Prometheus;

namespace Backstop.Infrastructure.Inbox;

/// <summary>A row of <c>webhook_events</c>.</summary>
internal sealed record WebhookEventRow
{
    public string Id { get; init; } = "";
    public string Provider { get; init; } = "";
    public string EventId { get; init; } = "";
    public string EventType { get; init; } = "";
    public string Payload { get; init; } = "";
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset ReceivedAt { get; init; }
    public DateTimeOffset? ProcessedAt { get; init; }
    public int ReplayCount { get; init; }
    public DateTimeOffset? LastReplayedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public WebhookEvent ToEvent() => new(Id, Provider, EventId, EventType, Payload, ReceivedAt, Attempts);
}

internal enum ProcessOutcome
{
    /// <summary>Someone else holds or finished the event, or it is not due: nothing was done.</summary>
    NotClaimed,
    Processed,
    Ignored,
    Failed,
    Dead,
}

/// <summary>
/// The exactly-once inbox. Storing is one <c>insert … on conflict (provider, event_id) do nothing returning id</c>:
/// the unique index decides which delivery is first. Processing is one transaction: a conditional update claims
/// the event (only one processor can move it out of received/failed), every handler registered for its provider and
/// type writes through the same transaction (in the order of <see cref="HandlersOf"/>), and the event is marked
/// processed; all of it commits together or not at all. A failure is recorded afterwards, once the handlers' writes
/// are rolled back. Deliveries arriving through the receive endpoint are stored and processed together in batches
/// by <see cref="WebhookGroupCommit"/>; the inbox job, replays and tests use the per-event path here.
/// </summary>
internal sealed class WebhookInbox(Db db, TimeProvider time, IServiceScopeFactory scopes, IOptions<WebhooksOptions> options, ILogger<WebhookInbox> log,
    Events.IEventPublisher events)
{
    private const int MaxErrorLength = 2000;

    /// <summary>A verified event of a group commit, with its new row id and whether any handler takes it.</summary>
    internal sealed record NewEvent(string Id, IncomingWebhook Incoming, bool Handled);

    /// <summary>
    /// Stores a group commit's events in one statement; answers the ids stored (the others were already stored: the
    /// unique index decides). The caller passes distinct (provider, event id) pairs. Inside the batch's transaction
    /// nobody else can see these rows, so no claim is needed: an event no handler takes is stored <c>ignored</c> at
    /// once, one that is handled <c>processing</c> until its handlers have run.
    /// </summary>
    internal async Task<HashSet<string>> InsertBatchAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<NewEvent> events, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var parameters = new DynamicParameters();
        parameters.Add("now", now);
        var values = new System.Text.StringBuilder();
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var n = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            parameters.Add("id" + n, e.Id);
            parameters.Add("p" + n, e.Incoming.Provider);
            parameters.Add("e" + n, e.Incoming.EventId);
            parameters.Add("t" + n, e.Incoming.EventType);
            parameters.Add("b" + n, e.Incoming.Payload);
            parameters.Add("s" + n, e.Handled ? WebhookStatus.Processing : WebhookStatus.Ignored);
            values.Append(i == 0 ? "" : ",\n")
                .Append($"(@id{n}, @p{n}, @e{n}, @t{n}, @b{n}, @s{n}, 1, @now, @now, {(e.Handled ? "null" : "@now")}, 0, @now, @now)");
        }
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            $"""
            insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at,
                                        received_at, processed_at, replay_count, created_at, updated_at)
            values {values}
            on conflict (provider, event_id) do nothing
            returning id
            """, parameters, tx, cancellationToken: ct));
        return ids.ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Marks a group commit's handled events processed, in one statement.</summary>
    internal async Task MarkProcessedAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<string> ids, CancellationToken ct)
    {
        if (ids.Count == 0) return;
        var now = time.GetUtcNow();
        await connection.ExecuteAsync(new CommandDefinition(
            $"update webhook_events set status = 'processed', processed_at = @now, updated_at = @now where {db.Dialect.AnyOf("id", "ids")}",
            new { ids, now }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// Records the failed first attempt of a group commit's event, after its savepoint was rolled back, in the
    /// batch's transaction: <c>failed</c> (or <c>dead</c> when one attempt is all there is), retried by the inbox job.
    /// </summary>
    internal async Task RecordFirstFailureAsync(DbConnection connection, DbTransaction tx, NewEvent e, Exception error, IWebhookHandler? handler, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var o = options.Value;
        var dead = o.MaxAttempts <= 1;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update webhook_events
            set status = @status, last_error = @message, next_attempt_at = @next, updated_at = @now
            where id = @Id
            """, new { e.Id, status = dead ? WebhookStatus.Dead : WebhookStatus.Failed, message = ErrorText(error, handler), now, next = now + o.RetryDelay(1) },
            tx, cancellationToken: ct));
        if (dead) await InboxEvents.DeadAsync(events, connection, tx, new InboxEventDead(e.Id, e.Incoming.Provider, e.Incoming.EventId, e.Incoming.EventType, 1, ErrorText(error, handler), now), ct);
        WebhookMetrics.Failed.WithLabels(e.Incoming.Provider).Inc();
        if (dead) WebhookMetrics.Dead.WithLabels(e.Incoming.Provider).Inc();
        log.LogWarning(error, "Webhook event {WebhookId} ({Provider} {EventType}) failed attempt 1; retrying later", e.Id, e.Incoming.Provider, e.Incoming.EventType);
    }

    private static string ErrorText(Exception e, IWebhookHandler? handler)
    {
        var error = (handler is null ? "" : handler.GetType().Name + " failed: ") + e.GetType().Name + ": " + e.Message;
        return error.Length > MaxErrorLength ? error[..MaxErrorLength] : error;
    }

    public async Task<WebhookEventRow?> FindAsync(string provider, string eventId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<WebhookEventRow>(new CommandDefinition(
            $"select {Columns} from webhook_events where provider = @provider and event_id = @eventId",
            new { provider, eventId }, cancellationToken: ct));
    }

    public async Task<WebhookEventRow?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<WebhookEventRow>(new CommandDefinition(
            $"select {Columns} from webhook_events where id = @id", new { id }, cancellationToken: ct));
    }

    /// <summary>
    /// A page of stored events without their payloads, newest first, filtered by provider, status and type (each
    /// optional): the operator's list. <typeparamref name="T"/> is the caller's view of the summary columns.
    /// </summary>
    public async Task<Page<T>> ListAsync<T>(string? provider, string? status, string? type, PageRequest page, Func<T, string> id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.PageAsync(
            """
            select id, provider, event_id, event_type, status, attempts, next_attempt_at, last_error, received_at,
                   processed_at, replay_count, last_replayed_at, updated_at
            from webhook_events
            """,
            ListFilter(provider, status, type), new { Provider = provider, Status = status, Type = type }, page, id, ct);
    }

    /// <summary>
    /// The list's where clause with only the filters given. Not <c>(@Status is null or status = @Status)</c>: SQLite
    /// plans a statement once for any parameter values, and for that form no index can serve the filter, so a filter
    /// on a rare status read the whole table newest first (1.3 s for <c>?provider=stripe&amp;status=failed</c> over a
    /// million events; bench/growth.sh). A status is read from <c>ix_webhook_events_status_id</c> and a type from
    /// <c>ix_webhook_events_type</c>, both in list order; the provider alone filters the newest-first walk.
    /// </summary>
    internal static string ListFilter(string? provider, string? status, string? type)
    {
        var parts = new List<string>(3);
        if (provider is not null) parts.Add("provider = @Provider");
        if (status is not null) parts.Add("status = @Status");
        if (type is not null) parts.Add("event_type = @Type");
        return parts.Count == 0 ? "1 = 1" : string.Join(" and ", parts);
    }

    public const string Columns =
        "id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, last_error, received_at, processed_at, replay_count, last_replayed_at, updated_at";

    /// <summary>Processes a received or failed event that is due. Never throws for a handler's failure: records it.</summary>
    public Task<ProcessOutcome> ProcessAsync(string id, CancellationToken ct) => RunAsync(id, replay: false, ct);

    /// <summary>Runs the handler of a processed, ignored or dead event again, the same transactional way.</summary>
    public Task<ProcessOutcome> ReplayAsync(string id, CancellationToken ct) => RunAsync(id, replay: true, ct);

    /// <summary>
    /// As <see cref="ReplayAsync(string, CancellationToken)"/>, and runs <paramref name="alongside"/> in the replay's
    /// transaction once the handlers succeeded (a bulk replay moves its position there, so a replay and its progress
    /// commit together). When it answers false the replay is rolled back and <see cref="ProcessOutcome.NotClaimed"/> answered.
    /// </summary>
    public Task<ProcessOutcome> ReplayAsync(string id, Func<DbConnection, DbTransaction, Task<bool>> alongside, CancellationToken ct) =>
        RunAsync(id, replay: true, ct, alongside);

    private async Task<ProcessOutcome> RunAsync(string id, bool replay, CancellationToken ct, Func<DbConnection, DbTransaction, Task<bool>>? alongside = null)
    {
        await using var scope = scopes.CreateAsyncScope();
        await using var connection = await db.OpenAsync(ct);
        var attempt = new Attempt();
        var committed = false;
        try
        {
            await using var tx = await Db.BeginAsync(connection, ct);
            var outcome = await ApplyAsync(connection, tx, scope.ServiceProvider, id, replay, attempt, ct);
            if (outcome == ProcessOutcome.NotClaimed) return outcome; // disposing the transaction rolls it back
            if (alongside is not null && !await alongside(connection, tx)) return ProcessOutcome.NotClaimed;
            await tx.CommitAsync(ct);
            committed = true;
            Processed(attempt.Claimed!, outcome, replay);
            return outcome;
        }
        catch (Exception e) when (attempt.Claimed is not null && !committed)
        {
            // The transaction is disposed (rolled back) by now: nothing the handlers wrote survives. The failure is
            // recorded on its own, without the caller's token, so a cancelled request still leaves its trace.
            return await RecordFailureAsync(connection, attempt.Claimed, replay, e, attempt.Running);
        }
    }

    /// <summary>What one processing attempt got to: the claimed row and the handler running when it failed.</summary>
    private sealed class Attempt
    {
        public WebhookEventRow? Claimed { get; set; }
        public IWebhookHandler? Running { get; set; }
    }

    /// <summary>
    /// Claims the event, runs every handler and marks it processed (or ignored) on the caller's transaction; throws
    /// when a handler fails, leaving the rollback to the caller. <paramref name="attempt"/> tells the caller what to
    /// record. (A group commit needs no claim: its new rows are invisible to everyone else until it commits.)
    /// </summary>
    private async Task<ProcessOutcome> ApplyAsync(DbConnection connection, DbTransaction tx, IServiceProvider services, string id, bool replay,
        Attempt attempt, CancellationToken ct)
    {
        var claimed = attempt.Claimed = await ClaimAsync(connection, tx, id, replay, ct);
        if (claimed is null) return ProcessOutcome.NotClaimed;

        // Fan-out: every handler of the event runs in this one transaction, so one failing handler rolls back
        // the writes of those before it and the retry runs them all again, each once per successful commit.
        var handlers = HandlersOf(services, claimed.Provider, claimed.EventType);
        var context = new WebhookContext(connection, tx, claimed.ToEvent());
        foreach (var handler in handlers)
        {
            attempt.Running = handler;
            await handler.HandleAsync(context, ct);
        }
        attempt.Running = null;

        var status = handlers.Count == 0 ? WebhookStatus.Ignored : WebhookStatus.Processed;
        var now = time.GetUtcNow();
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update webhook_events
            set status = @status, processed_at = @now, last_error = null, updated_at = @now
            where id = @id and status = 'processing'
            """, new { id, status, now }, tx, cancellationToken: ct));
        return handlers.Count == 0 ? ProcessOutcome.Ignored : ProcessOutcome.Processed;
    }

    /// <summary>Metrics and the log line of a committed processing.</summary>
    private void Processed(WebhookEventRow claimed, ProcessOutcome outcome, bool replay) =>
        Processed(claimed.Id, claimed.Provider, claimed.EventType, outcome, replay);

    internal void Processed(string id, string provider, string eventType, ProcessOutcome outcome, bool replay)
    {
        var status = outcome == ProcessOutcome.Ignored ? WebhookStatus.Ignored : WebhookStatus.Processed;
        WebhookMetrics.Processed.WithLabels(provider, status).Inc();
        log.LogInformation(replay ? "Webhook event {WebhookId} ({Provider} {EventType}) replayed: {Status}" : "Webhook event {WebhookId} ({Provider} {EventType}) {Status}",
            id, provider, eventType, status);
    }

    /// <summary>
    /// The handlers of an event in their documented order: <see cref="IWebhookHandler.Order"/> ascending, then the
    /// handler's full type name (ordinal), so the order never depends on registration order.
    /// </summary>
    internal static IReadOnlyList<IWebhookHandler> HandlersOf(IServiceProvider services, string provider, string eventType) =>
        services.GetServices<IWebhookHandler>()
            .Where(h => string.Equals(h.Provider, provider, StringComparison.Ordinal) && h.Handles(eventType))
            .OrderBy(h => h.Order)
            .ThenBy(h => h.GetType().FullName, StringComparer.Ordinal)
            .ToList();

    private async Task<WebhookEventRow?> ClaimAsync(DbConnection connection, DbTransaction tx, string id, bool replay, CancellationToken ct)
    {
        // Claims are conditional updates inside the processing transaction: on PostgreSQL a second claimer blocks
        // on the row lock and then finds the status changed (zero rows); on SQLite BEGIN IMMEDIATE serialises them.
        var sql = replay
            ? $"""
              update webhook_events
              set status = 'processing', replay_count = replay_count + 1, last_replayed_at = @now, updated_at = @now
              where id = @id and status in ('processed', 'ignored', 'dead')
              returning {Columns}
              """
            : $"""
              update webhook_events
              set status = 'processing', attempts = attempts + 1, updated_at = @now
              where id = @id and status in ('received', 'failed') and next_attempt_at <= @now
              returning {Columns}
              """;
        return await connection.QuerySingleOrDefaultAsync<WebhookEventRow>(new CommandDefinition(
            sql, new { id, now = time.GetUtcNow() }, tx, cancellationToken: ct));
    }

    /// <summary>Records a failed attempt on its own, after its transaction was rolled back.</summary>
    private async Task<ProcessOutcome> RecordFailureAsync(DbConnection connection, WebhookEventRow claimed, bool replay, Exception e, IWebhookHandler? handler)
    {
        var error = ErrorText(e, handler);
        var now = time.GetUtcNow();
        WebhookMetrics.Failed.WithLabels(claimed.Provider).Inc();
        try
        {
            if (replay)
            {
                // A failed replay leaves the event where it was (processed, ignored or dead), with the error and the replay counted.
                await connection.ExecuteAsync(
                    """
                    update webhook_events
                    set last_error = @error, replay_count = replay_count + 1, last_replayed_at = @now, updated_at = @now
                    where id = @Id
                    """, new { claimed.Id, error, now });
                log.LogWarning(e, "Replay of webhook event {WebhookId} ({Provider} {EventType}) failed", claimed.Id, claimed.Provider, claimed.EventType);
                return ProcessOutcome.Failed;
            }

            // claimed.Attempts already counts this attempt (the claim incremented it, then was rolled back).
            var o = options.Value;
            await using var deadTx = await Db.BeginAsync(connection);
            var status = await connection.QuerySingleOrDefaultAsync<string>(
                """
                update webhook_events
                set status = case when attempts + 1 >= @max then 'dead' else 'failed' end,
                    attempts = attempts + 1, last_error = @error, next_attempt_at = @next, updated_at = @now
                where id = @Id and status in ('received', 'failed')
                returning status
                """, new { claimed.Id, max = o.MaxAttempts, error, now, next = now + o.RetryDelay(claimed.Attempts) }, deadTx);
            // The dead mark and its event commit together (a failure to write either leaves the event failed, retried).
            if (status == WebhookStatus.Dead)
                await InboxEvents.DeadAsync(events, connection, deadTx, new InboxEventDead(claimed.Id, claimed.Provider, claimed.EventId, claimed.EventType,
                    claimed.Attempts, error, claimed.ReceivedAt), CancellationToken.None);
            await deadTx.CommitAsync();
            if (status == WebhookStatus.Dead)
            {
                WebhookMetrics.Dead.WithLabels(claimed.Provider).Inc();
                log.LogError(e, "Webhook event {WebhookId} ({Provider} {EventType}) is dead after {Attempts} attempts",
                    claimed.Id, claimed.Provider, claimed.EventType, claimed.Attempts);
                return ProcessOutcome.Dead;
            }
            log.LogWarning(e, "Webhook event {WebhookId} ({Provider} {EventType}) failed attempt {Attempts}; retrying later",
                claimed.Id, claimed.Provider, claimed.EventType, claimed.Attempts);
            return ProcessOutcome.Failed;
        }
        catch (Exception recordError)
        {
            // The event is still stored as received/failed: the inbox job will pick it up again.
            log.LogError(recordError, "Could not record the failure of webhook event {WebhookId}", claimed.Id);
            return ProcessOutcome.Failed;
        }
    }
}
