using System.Data.Common;
using System.Threading.Channels;
using Backstop.Infrastructure.Data;
using Dapper;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Backstop.Infrastructure.Inbox;

/// <summary>What a delivery got: its stored row id, or null for a duplicate of an event already stored.</summary>
public sealed record IngestResult(string? Id)
{
    public bool Duplicate => Id is null;
}

/// <summary>
/// Group commit of the inbox. Concurrent deliveries hand their verified events to one writer per instance, which
/// stores and processes a batch in <b>one</b> transaction — one durable commit (one fsync) for the batch — and
/// completes each delivery only after that commit, so "2xx only once the row is durable" holds for every event.
/// <list type="bullet">
/// <item>Exactly once: each event is the same <c>insert … on conflict (provider, event_id) do nothing</c> as before;
/// a duplicate inside one batch meets the first insert's row, one across batches the committed row.</item>
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
public sealed class WebhookGroupCommit(Db db, WebhookInbox inbox, IServiceScopeFactory scopes, IOptions<WebhooksOptions> options, ILogger<WebhookGroupCommit> log)
    : BackgroundService
{
    private sealed record Pending(IncomingWebhook Incoming, TaskCompletionSource<IngestResult> Done);

    private static readonly Histogram BatchSize = Metrics.CreateHistogram("backstop_webhooks_batch_size",
        "Events per group commit of the inbox.", new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    private readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Queues a verified event and completes once the batch holding it is committed (or failed as a whole).</summary>
    public Task<IngestResult> SubmitAsync(IncomingWebhook incoming)
    {
        var pending = new Pending(incoming, new TaskCompletionSource<IngestResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!queue.Writer.TryWrite(pending))
            pending.Done.SetException(new InvalidOperationException("The webhook inbox is shutting down."));
        return pending.Done.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>();
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await FillAsync(batch, stoppingToken);
                await CommitAsync(batch);
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        // Stopping: what is still queued was verified but not stored; fail it so each delivery answers 503 and
        // its provider delivers it again, instead of waiting for ever.
        queue.Writer.TryComplete();
        foreach (var pending in batch) pending.Done.TrySetException(new OperationCanceledException("The webhook inbox stopped."));
        while (queue.Reader.TryRead(out var left)) left.Done.TrySetException(new OperationCanceledException("The webhook inbox stopped."));
    }

    private async Task FillAsync(List<Pending> batch, CancellationToken ct)
    {
        var o = options.Value;
        while (batch.Count < o.GroupCommitMaxBatch && queue.Reader.TryRead(out var next)) batch.Add(next);
        if (o.GroupCommitWaitMilliseconds <= 0 || batch.Count >= o.GroupCommitMaxBatch) return;

        using var window = CancellationTokenSource.CreateLinkedTokenSource(ct);
        window.CancelAfter(o.GroupCommitWaitMilliseconds);
        try
        {
            while (batch.Count < o.GroupCommitMaxBatch && await queue.Reader.WaitToReadAsync(window.Token))
                while (batch.Count < o.GroupCommitMaxBatch && queue.Reader.TryRead(out var next)) batch.Add(next);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The window closed: commit what came.
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        // Not the requests' tokens: once the batch is being written it finishes (or rolls back) on its own terms.
        var ct = CancellationToken.None;
        var results = new IngestResult[batch.Count];
        var processed = new List<(WebhookEventRow Claimed, ProcessOutcome Outcome)>();
        try
        {
            await using var connection = await db.OpenAsync(ct);
            // The one durable commit of the batch (SQLite: synchronous = full for it; PostgreSQL: synchronous_commit = on).
            await using var tx = await Db.BeginDurableAsync(connection, ct);
            for (var i = 0; i < batch.Count; i++)
                results[i] = new IngestResult(await inbox.InsertAsync(connection, tx, batch[i].Incoming, ct));

            for (var i = 0; i < batch.Count; i++)
            {
                if (results[i].Id is not { } id) continue;
                var (claimed, outcome) = await ProcessUnderSavepointAsync(connection, tx, id, i, ct);
                if (claimed is not null) processed.Add((claimed, outcome));
            }
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
        for (var i = 0; i < batch.Count; i++)
            (results[i].Duplicate ? WebhookMetrics.Duplicate : WebhookMetrics.Received).WithLabels(batch[i].Incoming.Provider).Inc();
        foreach (var (claimed, outcome) in processed)
        {
            if (outcome is ProcessOutcome.Processed or ProcessOutcome.Ignored) inbox.Processed(claimed, outcome, replay: false);
        }
        for (var i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(results[i]);
    }

    /// <summary>
    /// Claims and processes one newly stored event under its own savepoint. A handler's failure rolls back to the
    /// savepoint (the event's insert stays) and the failure is recorded in the batch's transaction.
    /// </summary>
    private async Task<(WebhookEventRow? Claimed, ProcessOutcome Outcome)> ProcessUnderSavepointAsync(DbConnection connection, DbTransaction tx, string id, int index, CancellationToken ct)
    {
        var savepoint = "event_" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var scope = scopes.CreateAsyncScope();
        var attempt = new WebhookInbox.Attempt();
        await tx.SaveAsync(savepoint, ct);
        try
        {
            var outcome = await inbox.ApplyAsync(connection, tx, scope.ServiceProvider, id, replay: false, attempt, ct);
            await tx.ReleaseAsync(savepoint, ct);
            return (attempt.Claimed, outcome);
        }
        catch (Exception e) when (attempt.Claimed is not null)
        {
            await tx.RollbackAsync(savepoint, ct);
            var outcome = await inbox.RecordFailureAsync(connection, tx, attempt.Claimed, replay: false, e, attempt.Running);
            return (attempt.Claimed, outcome);
        }
    }
}
