using System.Threading.Channels;

namespace Backstop.Infrastructure.Data;

/// <summary>
/// The mechanism of a group commit, written once (the inbox's <c>WebhookGroupCommit</c>, Quota's <c>UsageGroupCommit</c>):
/// concurrent requests are queued on an unbounded channel read by one writer per instance, which takes a batch — what
/// is queued when it is free, up to <see cref="MaxBatch"/> (by <see cref="IGroupCommitRequest{TResult}.Weight"/>),
/// optionally waiting <see cref="Window"/> for more — and decides it in <see cref="CommitAsync"/> (one transaction;
/// each request completed only after the commit). On stop nothing queued is decided: each waiting request fails with
/// <see cref="Stopped"/>, so its caller answers 503 and its client retries. <see cref="UnderSavepointAsync"/> isolates
/// one item of a batch, <see cref="OneByOneAsync{T}"/> decides the items of a failed batch each alone.
/// </summary>
internal abstract class GroupCommit<TRequest, TResult> : BackgroundService
    where TRequest : IGroupCommitRequest<TResult>
{
    private readonly Channel<TRequest> queue = Channel.CreateUnbounded<TRequest>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>The most a batch holds (by weight), read for every batch so a setting's change applies to the next.</summary>
    protected abstract int MaxBatch { get; }

    /// <summary>How long the writer waits for more once a batch has begun (real time: a pacing delay); zero takes what is queued.</summary>
    protected virtual TimeSpan Window => TimeSpan.Zero;

    /// <summary>Decides a batch: completes (or fails) each request's <see cref="IGroupCommitRequest{TResult}.Done"/>. Must not throw.</summary>
    protected abstract Task CommitAsync(List<TRequest> batch);

    /// <summary>What a request queued, or being batched, when the writer stops fails with.</summary>
    protected abstract Exception Stopped();

    /// <summary>What a request submitted after the writer stopped fails with.</summary>
    protected virtual Exception Refused() => Stopped();

    /// <summary>Queues <paramref name="request"/>; its task completes once the batch holding it is decided.</summary>
    protected Task<TResult> EnqueueAsync(TRequest request)
    {
        if (!queue.Writer.TryWrite(request)) request.Done.TrySetException(Refused());
        return request.Done.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<TRequest>();
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

        queue.Writer.TryComplete();
        foreach (var pending in batch) pending.Done.TrySetException(Stopped());
        while (queue.Reader.TryRead(out var left)) left.Done.TrySetException(Stopped());
    }

    /// <summary>
    /// Stops the writer, then refuses what is left. <see cref="BackgroundService"/> may cancel <see cref="ExecuteAsync"/>
    /// before it ever ran (a stop right after the start): the queue is completed here too, so a request submitted after
    /// the stop fails at once instead of waiting for a writer that never comes.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        queue.Writer.TryComplete();
        while (queue.Reader.TryRead(out var left)) left.Done.TrySetException(Stopped());
    }

    private async Task FillAsync(List<TRequest> batch, CancellationToken ct)
    {
        var max = MaxBatch;
        var weight = 0;
        while (weight < max && queue.Reader.TryRead(out var next))
        {
            batch.Add(next);
            weight += next.Weight;
        }
        var window = Window;
        if (window <= TimeSpan.Zero || weight >= max) return;

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(window);
        try
        {
            while (weight < max && await queue.Reader.WaitToReadAsync(wait.Token))
                while (weight < max && queue.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                    weight += next.Weight;
                }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The window closed: commit what came.
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> under a savepoint of the batch's transaction: when it throws, only its writes are
    /// rolled back and <paramref name="failed"/> records the failure in the batch (the neighbours commit). Answers
    /// whether the work succeeded.
    /// </summary>
    protected static async Task<bool> UnderSavepointAsync(DbTransaction tx, string name, Func<Task> work, Func<Exception, Task> failed, CancellationToken ct)
    {
        await tx.SaveAsync(name, ct);
        try
        {
            await work();
            await tx.ReleaseAsync(name, ct);
            return true;
        }
        catch (Exception error)
        {
            await tx.RollbackAsync(name, ct);
            await tx.ReleaseAsync(name, ct);
            await failed(error);
            return false;
        }
    }

    /// <summary>
    /// The fallback of a batch whose transaction failed as a whole (rolled back, nothing of it stored): each item is
    /// decided again alone, in its own transaction, so one the database refuses fails alone and the others succeed.
    /// </summary>
    protected static async Task OneByOneAsync<T>(IEnumerable<T> items, Func<T, Task> decide, Func<T, Exception, Task> failed)
    {
        foreach (var item in items)
        {
            try
            {
                await decide(item);
            }
            catch (Exception single)
            {
                await failed(item, single);
            }
        }
    }
}
