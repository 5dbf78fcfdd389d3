using Prometheus;

namespace Backstop.Features.Quota;

/// <summary>
/// Group commit of the API's consumptions and releases. Concurrent requests hand their change to one writer per
/// instance, which decides a batch in <b>one</b> transaction (<see cref="UsageDecisions"/>: still one conditional
/// statement per decision, each seeing the one before) and completes each request only after the commit, so a
/// client is told "consumed" only once the count is stored (and, with <c>Quota:DurableConsume</c>, on disk: one
/// fsync for the batch instead of one per request).
/// <list type="bullet">
/// <item>A batch is what is queued when the writer is free, at most <c>Quota:GroupCommitMaxBatch</c>, in the order
/// of its counters (organization, metric, period), so two instances' batches on PostgreSQL lock counters in one order.</item>
/// <item>A database error in a batch rolls it back as a whole (nothing of it is counted) and its changes are then
/// decided again one per transaction, so a change the database refuses fails alone. On PostgreSQL a transaction
/// that lost a deadlock or a serialisation conflict is retried.</item>
/// </list>
/// On SQLite the writer is also the slice's only queue for the one write lock: requests wait on the channel, not in
/// SQLite's busy handler, which polls with sleeps of up to 100 ms.
/// </summary>
internal sealed class UsageGroupCommit(Db db, IAuditLog audit, UsageNotices notices, UsageScopes scopes, TimeProvider time, IOptions<QuotaOptions> options,
    ILogger<UsageGroupCommit> log) : GroupCommit<UsageGroupCommit.Pending, UsageDecision[]>
{
    /// <summary>
    /// One request: one change (consume, release) or a batch request's items, decided in the same transaction. An
    /// item is a change its caller resolved, or an API request the batch resolves (<see cref="UsageScopes"/>).
    /// </summary>
    internal sealed class Pending(UsageChange?[] changes, UsageRequest?[] requests) : IGroupCommitRequest<UsageDecision[]>
    {
        public UsageChange?[] Changes { get; } = changes;
        public UsageRequest?[] Requests { get; } = requests;
        public int Count => Changes.Length;
        public UsageDecision[] Results { get; } = new UsageDecision[changes.Length];
        public TaskCompletionSource<UsageDecision[]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A batch request's items stay together, even past the maximum.</summary>
        public int Weight => Count;
    }

    /// <summary>One item of a pending request, in the batch's order.</summary>
    private sealed record Entry(Pending Pending, int Index)
    {
        public UsageChange? Change => Pending.Changes[Index];
        public UsageRequest? Request => Pending.Requests[Index];
        public string OrganizationId => Change?.Scope.OrganizationId ?? Request!.OrganizationId;
        public string Metric => Change?.Scope.Metric.Name ?? Request!.Metric;
        public string Operation => Change?.Operation ?? Request!.Operation;
    }

    private static readonly Histogram BatchSize = Metrics.CreateHistogram("backstop_quota_batch_size",
        "Consumptions and releases per group commit.", new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    /// <summary>Queues a change; completes with its outcome once the batch holding it is committed, or with the problem that refused it.</summary>
    public async Task<MeterOutcome> SubmitAsync(UsageChange change) => (await SubmitManyAsync([change]))[0].Get();

    /// <summary>
    /// Queues an API request, resolved in the batch's transaction (its metric, limit, period and Billing's gate, read
    /// once per organization and metric of the batch); completes with its outcome once the batch is committed, or
    /// with the problem that refused it.
    /// </summary>
    public async Task<MeterOutcome> SubmitAsync(UsageRequest request) => (await QueueAsync(new Pending([null], [request])))[0].Get();

    /// <summary>Queues API requests decided together, in one transaction (a batch request's items), each with its own decision.</summary>
    public Task<UsageDecision[]> SubmitAsync(UsageRequest[] requests) =>
        requests.Length == 0 ? Task.FromResult(Array.Empty<UsageDecision>()) : QueueAsync(new Pending(new UsageChange?[requests.Length], requests));

    /// <summary>
    /// Queues changes that are decided together, in one transaction (a batch request's items): each gets its own
    /// decision; one refused by the database is decided alone after the rollback, so it never fails its neighbours.
    /// </summary>
    public Task<UsageDecision[]> SubmitManyAsync(UsageChange[] changes)
    {
        if (changes.Length == 0) return Task.FromResult(Array.Empty<UsageDecision>());
        return QueueAsync(new Pending(changes, new UsageRequest?[changes.Length]));
    }

    private Task<UsageDecision[]> QueueAsync(Pending pending) => EnqueueAsync(pending);

    protected override int MaxBatch => options.Value.GroupCommitMaxBatch;

    // Stopping: nothing queued was counted; each request answers 503 and the client retries with its key.
    protected override Exception Stopped() => Stopping();

    protected override async Task CommitAsync(List<Pending> batch)
    {
        var ordered = batch.SelectMany(p => Enumerable.Range(0, p.Count).Select(i => new Entry(p, i)))
            .OrderBy(e => e.OrganizationId, StringComparer.Ordinal)
            .ThenBy(e => e.Metric, StringComparer.Ordinal)
            .ToList();
        try
        {
            var decisions = await DecideAsync(ordered);
            BatchSize.Observe(ordered.Count);
            for (var i = 0; i < ordered.Count; i++) ordered[i].Pending.Results[ordered[i].Index] = decisions[i];
            foreach (var pending in batch) pending.Done.TrySetResult(pending.Results);
        }
        catch (OutcomeUnknownException e)
        {
            log.LogError(e, "A group commit of {Count} usage changes may or may not be in the database; none is decided again", ordered.Count);
            foreach (var pending in batch)
                pending.Done.TrySetException(new ProblemException(503, "outcome_unknown",
                    "The database did not confirm whether this request was counted; retry it with the same idempotencyKey."));
        }
        catch (Exception e) when (ordered.Count > 1)
        {
            log.LogWarning(e, "A group commit of {Count} usage changes failed and was rolled back; deciding them one by one", ordered.Count);
            await OneByOneAsync(ordered, async entry => entry.Pending.Results[entry.Index] = (await DecideAsync([entry]))[0], (entry, single) =>
            {
                Fail(entry, single);
                // An item of a batch request fails alone: its neighbours keep their answers.
                entry.Pending.Results[entry.Index] = new UsageDecision(null, new ProblemException(500, "usage_write_failed",
                    "The database refused this change; nothing of it was counted."));
                if (entry.Pending.Count == 1) entry.Pending.Done.TrySetException(single);
                return Task.CompletedTask;
            });
            foreach (var pending in batch) pending.Done.TrySetResult(pending.Results);
        }
        catch (Exception e)
        {
            Fail(ordered[0], e);
            ordered[0].Pending.Done.TrySetException(e);
        }
    }

    /// <summary>One transaction for <paramref name="batch"/>; on PostgreSQL retried when it lost a deadlock or a serialisation conflict.</summary>
    private async Task<UsageDecision[]> DecideAsync(IReadOnlyList<Entry> batch)
    {
        // Not the requests' tokens: once a batch is being written it finishes (or rolls back) on its own terms.
        var ct = CancellationToken.None;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var batchId = Guid.CreateVersion7().ToString();
                await using var connection = await db.OpenAsync(ct);
                await using var tx = options.Value.DurableConsume ? await Db.BeginDurableAsync(connection, ct) : await Db.BeginAsync(connection, ct);
                await connection.ExecuteAsync(new CommandDefinition("insert into usage_commits (id, created_at) values (@batchId, @now)",
                    new { batchId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
                var decisions = new UsageDecision[batch.Count];
                var changes = await ResolveAsync(connection, tx, batch, decisions, ct);
                // Counters in one order on every instance (organization, metric, period), so two batches on PostgreSQL cannot deadlock;
                // the changes of one counter keep their order of arrival (a batch request's items are decided in the order sent).
                changes.Sort((x, y) => Compare(x.Change, y.Change) is var c && c != 0 ? c : x.Index.CompareTo(y.Index));
                var applied = await UsageDecisions.ApplyAsync(connection, tx, [.. changes.Select(c => c.Change)], time.GetUtcNow(), ct, notices);
                for (var i = 0; i < changes.Count; i++) decisions[changes[i].Index] = applied[i];
                await AuditReleasesAsync(connection, tx, changes, applied, ct);
                try
                {
                    await tx.CommitAsync(ct);
                    if (AfterCommit is { } fault) await fault();
                }
                catch (Exception e)
                {
                    // The commit's error does not say whether the server committed (the connection can break after it
                    // did): read the batch's own row back before anything is decided again, so nothing counts twice.
                    if (!await CommittedAsync(batchId, e)) throw;
                    log.LogWarning(e, "A group commit of {Count} usage changes reported an error but is in the database; answering its decisions", batch.Count);
                }
                return decisions;
            }
            catch (Exception e) when (attempt < 3 && DialectSql.IsSerializationFailure(e))
            {
                log.LogInformation("A usage transaction of {Count} changes lost a {SqlState} conflict; retrying (attempt {Attempt})", batch.Count, DialectSql.ErrorCode(e), attempt + 1);
            }
        }
    }

    /// <summary>
    /// A release through the API gives capacity back, so it is audited in the batch's transaction. A consumption is
    /// not: it only ever takes capacity within the limit, its keyed answer is already stored in its own row, and an
    /// audit row per consumption would double the hot path's writes (docs/quota.md).
    /// </summary>
    private async Task AuditReleasesAsync(DbConnection connection, DbTransaction tx, List<(int Index, UsageChange Change)> batch, UsageDecision[] decisions, CancellationToken ct)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            var change = batch[i].Change;
            if (change.Operation != MeterOperations.Release || decisions[i].Outcome is not { Status: 200, Replayed: false } outcome) continue;
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.UsageRelease, "usage", $"{change.Scope.OrganizationId}:{change.Scope.Metric.Name}",
                change.Scope.OrganizationId,
                new { metric = change.Scope.Metric.Name, change.Amount, idempotencyKey = change.Key, used = outcome.Reading.Used, requestId = change.RequestId },
                change.Actor), ct);
        }
    }

    /// <summary>
    /// The batch's changes: those their callers resolved, and the API requests resolved here from one read per kind
    /// for the whole batch (<see cref="UsageScopes.ReadBatchAsync"/>); a request refused on the way gets its decision
    /// in <paramref name="decisions"/> (its key's stored answer first, when it has one).
    /// </summary>
    private async Task<List<(int Index, UsageChange Change)>> ResolveAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<Entry> batch,
        UsageDecision[] decisions, CancellationToken ct)
    {
        var changes = new List<(int, UsageChange)>(batch.Count);
        var reads = await scopes.ReadBatchAsync(connection, tx, [.. batch.Where(e => e.Change is null).Select(e => e.Request!)], ct);
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Change is { } change)
            {
                changes.Add((i, change));
                continue;
            }
            var request = batch[i].Request!;
            try
            {
                changes.Add((i, scopes.Resolve(request, reads)));
            }
            catch (ProblemException refusal)
            {
                decisions[i] = await UsageScopes.StoredOrRefusedAsync(connection, tx, request, refusal, ct);
            }
        }
        return changes;
    }

    private static int Compare(UsageChange x, UsageChange y)
    {
        var c = string.CompareOrdinal(x.Scope.OrganizationId, y.Scope.OrganizationId);
        if (c == 0) c = string.CompareOrdinal(x.Scope.Metric.Name, y.Scope.Metric.Name);
        return c != 0 ? c : x.Scope.PeriodStart.CompareTo(y.Scope.PeriodStart);
    }

    /// <summary>Fault injection for tests: runs after the database committed a batch, as a lost commit acknowledgement would.</summary>
    internal Func<Task>? AfterCommit { get; set; }

    /// <summary>Whether the batch's row is in the database; when even that cannot be read the outcome is unknown and nothing is re-decided.</summary>
    private async Task<bool> CommittedAsync(string batchId, Exception commitError)
    {
        try
        {
            await using var connection = await db.OpenAsync(CancellationToken.None);
            return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "select count(*) from usage_commits where id = @batchId", new { batchId })) == 1;
        }
        catch (Exception e)
        {
            throw new OutcomeUnknownException(new AggregateException(commitError, e));
        }
    }

    /// <summary>A batch whose commit may or may not have happened: its requests answer 503 and are not decided again.</summary>
    private sealed class OutcomeUnknownException(Exception inner) : Exception("The outcome of a usage group commit could not be read back.", inner);

    private void Fail(Entry entry, Exception e) =>
        log.LogError(e, "A usage {Operation} of {Metric} for organization {OrganizationId} failed; nothing was counted",
            entry.Operation, entry.Metric, entry.OrganizationId);

    private static ProblemException Stopping() =>
        new(503, "shutting_down", "The service is stopping and did not count this request; retry it with the same idempotencyKey.");
}
