using System.Text;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// Which stored events a bulk replay takes. Only <c>processed</c>, <c>ignored</c> and <c>dead</c> events are ever
/// replayed (received and failed ones are the inbox job's); <see cref="Status"/> narrows that further.
/// </summary>
/// <param name="Provider">stripe, clerk, recall, deepgram, paddle or twilio.</param>
/// <param name="Status">processed, ignored or dead.</param>
/// <param name="Type">The event type, exactly.</param>
/// <param name="From">Received at or after.</param>
/// <param name="To">Received before.</param>
/// <param name="Q">Text searched (case-insensitive) in the provider's event id and the payload.</param>
internal sealed record WebhookReplayFilter(string? Provider, string? Status, string? Type, DateTimeOffset? From, DateTimeOffset? To, string? Q)
{
    public static readonly string[] ReplayableStatuses = [WebhookStatus.Processed, WebhookStatus.Ignored, WebhookStatus.Dead];
}

/// <summary>A bulk replay and how far it got: <c>done</c> = replayed + failed + skipped of <c>total</c> (counted when it was asked).</summary>
/// <param name="Skipped">Events passed over: no longer matching or replayable when their turn came (another replay held or had moved them, or they were deleted).</param>
/// <param name="Failed">Events whose handlers failed again (each keeps its error, as after a single replay).</param>
internal sealed record WebhookReplay
{
    public string Id { get; init; } = "";
    public string State { get; init; } = "";
    public int Total { get; init; }
    public int Done => Replayed + Failed + Skipped;
    public int Replayed { get; init; }
    public int Failed { get; init; }
    public int Skipped { get; init; }
    public string? Provider { get; init; }
    public string? Status { get; init; }
    public string? EventType { get; init; }
    public DateTimeOffset? ReceivedFrom { get; init; }
    public DateTimeOffset? ReceivedTo { get; init; }
    public string? Q { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    internal WebhookReplayFilter Filter => new(Provider, Status, EventType, ReceivedFrom, ReceivedTo, Q);
}

/// <summary>
/// Bulk replays, worked by <see cref="WebhookReplayJob"/> in batches of <see cref="BatchSize"/> events in id order.
/// Each event is replayed through <see cref="WebhookInbox.ReplayAsync(string, Func{DbConnection, DbTransaction, Task{bool}}, CancellationToken)"/>,
/// the single replay's path (its claim is the conditional update that lets only one processor hold an event, so two
/// replays of overlapping filters never run one event's handlers at the same time), and the replay's position and
/// count move in that replay's own transaction, conditional on the replay still running under this worker's lease:
/// a cancel or a lost lease rolls the event's replay back, and a restart resumes after the last event replayed.
/// </summary>
internal sealed class WebhookReplays(Db db, WebhookInbox inbox, TimeProvider time, IAuditLog audit, ILogger<WebhookReplays> log) : IWebhookReplays
{
    /// <summary>Events per batch: one read of ids, then one transaction per event (the handlers run per event).</summary>
    public const int BatchSize = 100;

    /// <summary>A worker's hold on a replay, renewed by every event it works.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private const string Columns =
        "id, state, total, replayed, failed, skipped, provider, status, event_type, received_from, received_to, q, created_at, updated_at, finished_at";

    public async Task<int> CountAsync(WebhookReplayFilter filter, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var (where, p) = Matching(filter);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition($"select count(*) from webhook_events where {where}", p, cancellationToken: ct));
    }

    public async Task<WebhookReplay> StartAsync(WebhookReplayFilter filter, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var (where, p) = Matching(filter);
            var (total, upper) = await connection.QuerySingleAsync<(long, string?)>(new CommandDefinition(
                $"select count(*), max(id) from webhook_events where {where}", p, tx, cancellationToken: ct));
            var id = Ids.New(time);
            var state = total == 0 ? WebhookReplayState.Completed : WebhookReplayState.Running;
            var replay = await connection.QuerySingleAsync<WebhookReplay>(new CommandDefinition(
                $"""
                insert into webhook_replays (id, provider, status, event_type, received_from, received_to, q, state, total, replayed, failed, skipped,
                                             upper_id, after_id, lease_holder, lease_until, finished_at, created_at, updated_at)
                values (@id, @Provider, @Status, @Type, @From, @To, @Q, @state, @total, 0, 0, 0, @upper, null, null, null, @finishedAt, @now, @now)
                returning {Columns}
                """,
                new { id, filter.Provider, filter.Status, filter.Type, filter.From, filter.To, filter.Q, state, total, upper, finishedAt = total == 0 ? now : (DateTimeOffset?)null, now },
                tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.WebhookReplayCreate, "webhook_replay", id,
                Changes: new { filter.Provider, filter.Status, filter.Type, filter.From, filter.To, filter.Q, total }), ct);
            return replay;
        }, ct);
    }

    public async Task<WebhookReplay> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<WebhookReplay>(new CommandDefinition(
                   $"select {Columns} from webhook_replays where id = @id", new { id }, cancellationToken: ct))
               ?? throw ProblemException.NotFound($"Webhook replay '{id}'");
    }

    public async Task<WebhookReplay> CancelAsync(string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var cancelled = await connection.QuerySingleOrDefaultAsync<WebhookReplay>(new CommandDefinition(
                $"""
                update webhook_replays set state = 'cancelled', lease_holder = null, lease_until = null, finished_at = @now, updated_at = @now
                where id = @id and state = 'running'
                returning {Columns}
                """, new { id, now }, tx, cancellationToken: ct));
            if (cancelled is null)
            {
                var state = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                                "select state from webhook_replays where id = @id", new { id }, tx, cancellationToken: ct))
                            ?? throw ProblemException.NotFound($"Webhook replay '{id}'");
                throw new ProblemException(409, "replay_finished", $"The replay is {state} already.");
            }
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.WebhookReplayCancel, "webhook_replay", id,
                Changes: new { cancelled.Total, cancelled.Replayed, cancelled.Failed, cancelled.Skipped }), ct);
            return cancelled;
        }, ct);
    }

    /// <summary>Running replays, oldest first.</summary>
    public async Task<IReadOnlyList<string>> RunningAsync(int limit, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            "select id from webhook_replays where state = 'running' order by created_at, id limit @limit", new { limit }, cancellationToken: ct))).ToList();
    }

    private sealed record Work
    {
        public string Id { get; init; } = "";
        public string? Provider { get; init; }
        public string? Status { get; init; }
        public string? EventType { get; init; }
        public DateTimeOffset? ReceivedFrom { get; init; }
        public DateTimeOffset? ReceivedTo { get; init; }
        public string? Q { get; init; }
        public string? UpperId { get; init; }
        public string? AfterId { get; init; }
    }

    /// <summary>
    /// Works one batch of a running replay under a lease (a replay another worker holds is left alone). Answers how
    /// many events it worked and whether the replay is finished for this worker (completed, cancelled, not running,
    /// or its lease lost).
    /// </summary>
    public async Task<(int Worked, bool Finished)> ProcessBatchAsync(string replayId, CancellationToken ct)
    {
        var holder = Ids.New(time);
        Work? work;
        await using (var connection = await db.OpenAsync(ct))
            work = await connection.QuerySingleOrDefaultAsync<Work>(new CommandDefinition(
                """
                update webhook_replays set lease_holder = @holder, lease_until = @until, updated_at = @now
                where id = @replayId and state = 'running' and (lease_until is null or lease_until <= @now)
                returning id, provider, status, event_type, received_from, received_to, q, upper_id, after_id
                """, new { replayId, holder, now = time.GetUtcNow(), until = time.GetUtcNow() + Lease }, cancellationToken: ct));
        if (work is null) return (0, true);

        List<string> batch;
        await using (var connection = await db.OpenAsync(ct))
        {
            var (where, p) = Matching(new WebhookReplayFilter(work.Provider, work.Status, work.EventType, work.ReceivedFrom, work.ReceivedTo, work.Q));
            p.Add("after", work.AfterId ?? "");
            p.Add("upper", work.UpperId ?? "");
            batch = (await connection.QueryAsync<string>(new CommandDefinition(
                $"select id from webhook_events where {where} and id > @after and id <= @upper order by id limit {BatchSize}",
                p, cancellationToken: ct))).ToList();
        }

        var worked = 0;
        foreach (var eventId in batch)
        {
            var outcome = await inbox.ReplayAsync(eventId, (c, tx) => AdvanceAsync(c, tx, replayId, holder, eventId, "replayed", ct), ct);
            if (outcome is ProcessOutcome.Processed or ProcessOutcome.Ignored)
            {
                worked++;
                continue;
            }
            // A failed replay (its error recorded on the event), or an event not replayable now, or this replay
            // cancelled or its lease lost (then the advance finds nothing and the worker stops).
            await using var connection = await db.OpenAsync(ct);
            await using var tx = await Db.BeginAsync(connection, ct);
            var counter = outcome == ProcessOutcome.NotClaimed ? "skipped" : "failed";
            if (!await AdvanceAsync(connection, tx, replayId, holder, eventId, counter, ct)) return (worked, true);
            await tx.CommitAsync(ct);
            worked++;
        }

        await using (var connection = await db.OpenAsync(ct))
        {
            var done = batch.Count < BatchSize;
            var released = await connection.ExecuteAsync(new CommandDefinition(
                """
                update webhook_replays
                set state = @state, lease_holder = null, lease_until = null, finished_at = @finishedAt, updated_at = @now,
                    -- Done: every event counted at the start was worked or no longer matched when its turn came
                    -- (another replay had moved it out of the status asked for, or it was deleted): those are skipped.
                    skipped = case when @state = 'completed' and total - replayed - failed > skipped then total - replayed - failed else skipped end
                where id = @replayId and state = 'running' and lease_holder = @holder
                """,
                new { replayId, holder, state = done ? WebhookReplayState.Completed : WebhookReplayState.Running, finishedAt = done ? time.GetUtcNow() : (DateTimeOffset?)null, now = time.GetUtcNow() },
                cancellationToken: ct));
            if (done && released == 1) log.LogInformation("Webhook replay {ReplayId} completed", replayId);
            return (worked, done || released == 0);
        }
    }

    /// <summary>Moves the replay past <paramref name="eventId"/> and counts it, while it runs under this worker's lease (renewed).</summary>
    private async Task<bool> AdvanceAsync(DbConnection connection, DbTransaction tx, string replayId, string holder, string eventId, string counter, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // counter is one of three literals above, never input.
        return await connection.ExecuteAsync(new CommandDefinition(
            $"""
            update webhook_replays set after_id = @eventId, {counter} = {counter} + 1, lease_until = @until, updated_at = @now
            where id = @replayId and state = 'running' and lease_holder = @holder
            """, new { replayId, holder, eventId, now, until = now + Lease }, tx, cancellationToken: ct)) == 1;
    }

    /// <summary>The filter as SQL over <c>webhook_events</c>: only the conditions asked for, so every parameter has a value.</summary>
    private static (string Where, DynamicParameters Parameters) Matching(WebhookReplayFilter f)
    {
        var where = new StringBuilder("status in ('processed', 'ignored', 'dead')");
        var p = new DynamicParameters();
        if (f.Provider is not null) { where.Append(" and provider = @provider"); p.Add("provider", f.Provider); }
        if (f.Status is not null) { where.Append(" and status = @status"); p.Add("status", f.Status); }
        if (f.Type is not null) { where.Append(" and event_type = @type"); p.Add("type", f.Type); }
        if (f.From is { } from) { where.Append(" and received_at >= @from"); p.Add("from", from); }
        if (f.To is { } to) { where.Append(" and received_at < @to"); p.Add("to", to); }
        if (!string.IsNullOrEmpty(f.Q))
        {
            // lower() on both sides: SQLite's like ignores ASCII case, PostgreSQL's does not.
            where.Append(@" and (lower(event_id) like @q escape '\' or lower(payload) like @q escape '\')");
            p.Add("q", "%" + f.Q.ToLowerInvariant().Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal)
                .Replace("_", @"\_", StringComparison.Ordinal) + "%");
        }
        return (where.ToString(), p);
    }
}
