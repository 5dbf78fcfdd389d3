using Backstop.Infrastructure.Stats;
using Prometheus;

namespace Backstop.Infrastructure.Inbox;

/// <summary>What a delivery got: its stored row id, or null for a duplicate of an event already stored.</summary>
internal sealed record IngestResult(string? Id)
{
    public bool Duplicate => Id is null;
}

/// <summary>
/// Group commit of the inbox. Concurrent deliveries hand their verified events to one writer per instance, which
/// stores and processes a batch in <b>one</b> transaction — one durable commit (one fsync) for the batch — and
/// completes each delivery only after that commit, so "2xx only once the row is durable" holds for every event.
/// <list type="bullet">
/// <item>Exactly once: the batch's distinct events are stored by one <c>insert … on conflict (provider, event_id) do
/// nothing returning id</c>; a twin inside the batch is a duplicate of the first, one across batches meets the
/// committed row. The new rows are invisible to every other processor until the commit, so they need no claim: an
/// event no handler takes is stored <c>ignored</c>, the others are processed in the batch.</item>
/// <item>Isolation: each new event is processed under its own savepoint. A failing handler rolls back only that
/// event's writes; the failure is recorded in the batch (status <c>failed</c>, retried by the inbox job as
/// before) and its neighbours commit.</item>
/// <item>Durability: the batch's transaction is <see cref="Db.BeginDurableAsync"/>'s: SQLite connections otherwise
/// run <c>synchronous = normal</c> (in WAL mode a commit then does not fsync), this one <c>full</c>; on PostgreSQL
/// <c>synchronous_commit = on</c> for it, whatever the server's default.</item>
/// </list>
/// A batch is what is queued when the writer is free (at most <c>Webhooks:GroupCommitMaxBatch</c>), optionally
/// waiting <c>Webhooks:GroupCommitWaitMilliseconds</c> (real time: a pacing delay, not business time) for more.
/// </summary>
internal sealed class WebhookGroupCommit(Db db, WebhookInbox inbox, IServiceScopeFactory scopes, TimeProvider time, IOptions<WebhooksOptions> options, ILogger<WebhookGroupCommit> log)
    : GroupCommit<WebhookGroupCommit.Pending, IngestResult>
{
    internal sealed record Pending(IncomingWebhook Incoming, TaskCompletionSource<IngestResult> Done) : IGroupCommitRequest<IngestResult>;

    private static readonly Histogram BatchSize = Metrics.CreateHistogram("backstop_webhooks_batch_size",
        "Events per group commit of the inbox.", new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    /// <summary>Queues a verified event and completes once the batch holding it is committed (or failed as a whole).</summary>
    public Task<IngestResult> SubmitAsync(IncomingWebhook incoming) =>
        EnqueueAsync(new Pending(incoming, new TaskCompletionSource<IngestResult>(TaskCreationOptions.RunContinuationsAsynchronously)));

    protected override int MaxBatch => options.Value.GroupCommitMaxBatch;

    protected override TimeSpan Window => TimeSpan.FromMilliseconds(Math.Max(0, options.Value.GroupCommitWaitMilliseconds));

    // Stopping: what is still queued was verified but not stored; fail it so each delivery answers 503 and its
    // provider delivers it again, instead of waiting for ever.
    protected override Exception Stopped() => new OperationCanceledException("The webhook inbox stopped.");

    protected override Exception Refused() => new InvalidOperationException("The webhook inbox is shutting down.");

    protected override async Task CommitAsync(List<Pending> batch)
    {
        // Not the requests' tokens: once the batch is being written it finishes (or rolls back) on its own terms.
        var ct = CancellationToken.None;

        // One row per distinct (provider, event id): a twin later in the batch is a duplicate by definition.
        var first = new Dictionary<(string, string), WebhookInbox.NewEvent>();
        var events = new List<WebhookInbox.NewEvent>();
        try
        {
            await using var probe = scopes.CreateAsyncScope();
            foreach (var pending in batch)
            {
                var incoming = pending.Incoming;
                if (first.ContainsKey((incoming.Provider, incoming.EventId))) continue;
                var handled = WebhookInbox.HandlersOf(probe.ServiceProvider, incoming.Provider, incoming.EventType).Count > 0;
                var e = new WebhookInbox.NewEvent(Ids.New(time), incoming, handled);
                first[(incoming.Provider, incoming.EventId)] = e;
                events.Add(e);
            }
        }
        catch (Exception e)
        {
            // A handler that cannot be built (a registration error): the batch is answered 503, and the writer lives on.
            // Thrown from here it would end the writer, and every later delivery would wait for ever.
            log.LogError(e, "The handlers of a group commit of {Count} webhook deliveries could not be built; none was stored", batch.Count);
            foreach (var pending in batch) pending.Done.TrySetException(e);
            return;
        }

        HashSet<string> stored;
        var processed = new List<WebhookInbox.NewEvent>();
        try
        {
            await using var connection = await db.OpenAsync(ct);
            // The one durable commit of the batch (SQLite: synchronous = full for it; PostgreSQL: synchronous_commit = on).
            await using var tx = await Db.BeginDurableAsync(connection, ct);
            stored = await inbox.InsertBatchAsync(connection, tx, events, ct);
            foreach (var e in events.Where(e => e.Handled && stored.Contains(e.Id)))
                if (await HandleUnderSavepointAsync(connection, tx, e, ct)) processed.Add(e);
            await inbox.MarkProcessedAsync(connection, tx, [.. processed.Select(e => e.Id)], ct);
            // The console's hourly counts ride on the batch's commit: one upsert, no transaction of their own.
            await HourlyCounts.AddAsync(connection, tx, time.GetUtcNow(), Counts(batch, first, stored, processed), ct, shard: 0);
            await tx.CommitAsync(ct);
        }
        catch (Exception e)
        {
            // Nothing of the batch is stored: every delivery in it is answered 503 and delivered again by its provider.
            log.LogError(e, "A group commit of {Count} webhook deliveries failed; none was stored", batch.Count);
            foreach (var pending in batch) pending.Done.TrySetException(e);
            return;
        }

        BatchSize.Observe(batch.Count);
        foreach (var e in events.Where(e => stored.Contains(e.Id)))
        {
            WebhookMetrics.Received.WithLabels(e.Incoming.Provider).Inc();
            if (!e.Handled) inbox.Processed(e.Id, e.Incoming.Provider, e.Incoming.EventType, ProcessOutcome.Ignored, replay: false);
        }
        foreach (var e in processed) inbox.Processed(e.Id, e.Incoming.Provider, e.Incoming.EventType, ProcessOutcome.Processed, replay: false);
        foreach (var pending in batch)
        {
            var e = first[(pending.Incoming.Provider, pending.Incoming.EventId)];
            var isFirst = ReferenceEquals(e.Incoming, pending.Incoming) && stored.Contains(e.Id);
            if (!isFirst) WebhookMetrics.Duplicate.WithLabels(pending.Incoming.Provider).Inc();
            pending.Done.TrySetResult(new IngestResult(isFirst ? e.Id : null));
        }
    }

    /// <summary>What the batch did per provider: each stored event's outcome at receipt, and its duplicates.</summary>
    private IEnumerable<HourlyIncrement> Counts(List<Pending> batch, Dictionary<(string, string), WebhookInbox.NewEvent> first, HashSet<string> stored,
        List<WebhookInbox.NewEvent> processed)
    {
        var done = processed.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        var failed = options.Value.MaxAttempts <= 1 ? WebhookStatus.Dead : WebhookStatus.Failed;
        foreach (var pending in batch)
        {
            var e = first[(pending.Incoming.Provider, pending.Incoming.EventId)];
            var outcome = !ReferenceEquals(e.Incoming, pending.Incoming) || !stored.Contains(e.Id) ? "duplicate"
                : !e.Handled ? WebhookStatus.Ignored
                : done.Contains(e.Id) ? WebhookStatus.Processed
                : failed;
            yield return new HourlyIncrement(HourlyCountKinds.Webhook, pending.Incoming.Provider, outcome);
        }
    }

    /// <summary>
    /// Runs every handler of one newly stored event under its own savepoint; on a failure rolls back to it (the
    /// event's row stays) and records the failure in the batch's transaction. Answers whether it was processed.
    /// </summary>
    private async Task<bool> HandleUnderSavepointAsync(DbConnection connection, DbTransaction tx, WebhookInbox.NewEvent e, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var incoming = e.Incoming;
        var context = new WebhookContext(connection, tx, new WebhookEvent(e.Id, incoming.Provider, incoming.EventId, incoming.EventType, incoming.Payload, time.GetUtcNow(), 1));
        IWebhookHandler? running = null;
        return await UnderSavepointAsync(tx, "event", async () =>
        {
            foreach (var handler in WebhookInbox.HandlersOf(scope.ServiceProvider, incoming.Provider, incoming.EventType))
            {
                running = handler;
                await handler.HandleAsync(context, ct);
            }
        }, error => inbox.RecordFirstFailureAsync(connection, tx, e, error, running, ct), ct);
    }
}
