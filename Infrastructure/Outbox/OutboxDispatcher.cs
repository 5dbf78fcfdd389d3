using Backstop.Infrastructure.Stats;
using Serilog.Context;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// Claims due messages and delivers them. Claiming is one conditional <c>update … returning</c> that takes up to a
/// batch: a row is taken only while it is <c>pending</c> and due, or <c>sending</c> with an expired lease (its instance
/// died), and the taker's claim token is written with a lease. Two instances racing: on PostgreSQL the rows the other
/// is claiming are skipped (<c>for update skip locked</c>) and a row it has claimed meanwhile fails the re-checked
/// condition; on SQLite writers are serialised; either way one instance gets each row. Results are recorded only while
/// the claim token still matches, so a delivery that outlived its lease cannot overwrite the newer claim's outcome.
/// <para>Fair across lanes: a message's lane is its <see cref="OutboxEnvelope.Target"/> (an event endpoint), else its
/// organization, else one shared lane. A claim walks the lanes that have pending messages (one seek per lane in
/// <c>ix_outbox_messages_lane_due</c>), takes each lane's oldest due messages, and takes every lane's first before any
/// lane's second, so one tenant's (or endpoint's) backlog of thousands never delays another's next message by more
/// than one batch, and the claim's cost does not grow with that backlog. A target whose channel limits its deliveries
/// in flight (<see cref="IOutboxChannel.MaxInFlightPerTarget"/>) gets no more than the limit minus its messages being
/// sent (under an unexpired lease, on any instance): the rest stay pending, unclaimed.</para>
/// <para>Results are written by a group commit: the outcome of each delivery (the message's row, its
/// <c>outbox_attempts</c> row, the listeners' and the channel's writes) goes into the next transaction of a single
/// writer, which takes every result that finished while the previous transaction ran. A delivery's slot is freed once
/// its result is committed.</para>
/// </summary>
internal sealed class OutboxDispatcher(
    Db db,
    TimeProvider time,
    IEnumerable<IOutboxChannel> channels,
    IEnumerable<IOutboxListener> listeners,
    IOptions<OutboxOptions> options,
    OutboxSignal signal,
    ILogger<OutboxDispatcher> log)
{
    /// <summary>A delivery running this long leaves the window for a slow slot (<c>Outbox:SlowSlots</c>).</summary>
    public static readonly TimeSpan SlowAfter = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, IOutboxChannel> byName = channels.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
    private readonly Lock resultsGate = new();
    private List<PendingResult> results = [];
    private bool writing;

    /// <summary>Delivers every message due now, in claimed batches, until a claim comes back short. Returns how many were attempted.</summary>
    public Task<int> DispatchDueAsync(CancellationToken ct = default) => DispatchDueAsync(int.MaxValue, ct);

    /// <summary>As <see cref="DispatchDueAsync(CancellationToken)"/>, stopping after <paramref name="maxBatches"/> claims (tests look at what the first claims took).</summary>
    /// <remarks>
    /// A window of <c>Outbox:Parallelism</c> deliveries, not rounds: once a quarter of the slots (at least one) are
    /// free, they claim the next due messages in one statement, and while a slot is free and nothing was due, the
    /// window looks again every <c>Outbox:PollIntervalMilliseconds</c>, or at once when this instance enqueues a
    /// message. A delivery still running after <see cref="SlowAfter"/> (an event endpoint that hangs until its
    /// timeout) leaves the window for one of <c>Outbox:SlowSlots</c> slots of its own, so hung deliveries never hold
    /// the slots the others' next messages need; only when those are full too does a slow delivery keep its window
    /// slot (in flight at most <c>Parallelism + SlowSlots</c>). Returns once nothing is due and nothing is in flight.
    /// </remarks>
    public async Task<int> DispatchDueAsync(int maxBatches, CancellationToken ct)
    {
        var o = options.Value;
        var total = 0;
        var claims = 0;
        var due = true;
        var running = new List<Task>();
        // When each delivery started, and those moved out of the window into the slow slots.
        var startedAt = new Dictionary<Task, DateTimeOffset>();
        var slow = new HashSet<Task>();
        Task? slowCheck = null;
        // Claims wait for this many free slots while deliveries run: a claim per batch, not per finished delivery.
        var threshold = Math.Max(1, Math.Min(o.BatchSize, o.Parallelism) / 4);
        Task<bool>? wake = null;
        using var wakeCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (!ct.IsCancellationRequested)
        {
            var inWindow = running.Count - slow.Count;
            var free = o.Parallelism - inWindow;
            if (due && free > 0 && (free >= threshold || inWindow == 0) && claims < maxBatches)
            {
                // Claim no more than can be sent at once: a claimed message that waited behind slow deliveries could
                // see its lease run out and be claimed (and sent) by another instance while this one still holds it.
                var take = Math.Min(o.BatchSize, free);
                var claim = Ids.New(time);
                var claimedAt = time.GetUtcNow();
                var batch = await ClaimAsync(claim, take, ct);
                claims++;
                await PrepareBatchAsync(batch, ct);
                foreach (var message in batch)
                {
                    var delivery = DeliverAsync(message, claim, claimedAt, ct);
                    running.Add(delivery);
                    startedAt[delivery] = claimedAt;
                }
                total += batch.Count;
                if (batch.Count < take) due = false;
                continue;
            }
            if (running.Count == 0) break;

            // The next window delivery to turn slow, while a slow slot is free: checked then (on the TimeProvider).
            if (slowCheck is null && slow.Count < o.SlowSlots && inWindow > 0)
            {
                var oldest = running.Where(t => !slow.Contains(t)).Min(t => startedAt[t]);
                var wait = oldest + SlowAfter - time.GetUtcNow();
                slowCheck = wait > TimeSpan.Zero ? Task.Delay(wait, time, wakeCancel.Token) : Task.CompletedTask;
            }

            // Wait for a delivery to end; with a slot free, also look for newly due messages now and then, and as soon
            // as this instance enqueues one.
            var poll = !due && inWindow < o.Parallelism && claims < maxBatches;
            if (poll) wake ??= signal.WaitAsync(TimeSpan.FromMilliseconds(o.PollIntervalMilliseconds), wakeCancel.Token);
            IEnumerable<Task> waits = running;
            if (poll) waits = waits.Append(wake!);
            if (slowCheck is not null) waits = waits.Append(slowCheck);
            var ended = await Task.WhenAny(waits);
            if (ended == wake)
            {
                wake = null;
                due = true;
                continue;
            }
            if (ended == slowCheck)
            {
                slowCheck = null;
                if (ended.IsCanceled) continue;
                var now = time.GetUtcNow();
                foreach (var delivery in running.Where(t => !slow.Contains(t) && now - startedAt[t] >= SlowAfter).OrderBy(t => startedAt[t]).ToList())
                {
                    if (slow.Count >= o.SlowSlots) break;
                    slow.Add(delivery);
                    due = true;
                }
                continue;
            }
            running.Remove(ended);
            slow.Remove(ended);
            startedAt.Remove(ended);
            await ended;
            // The slot is free: what became due meanwhile (a retry, a deferred message) is claimed with the next batch.
            due = true;
        }
        await Task.WhenAll(running);
        // A wait for a wake-up still pending is withdrawn (a cancelled wait takes nothing from the signal), and one taken
        // here but not acted on goes back to the dispatch loop.
        await wakeCancel.CancelAsync();
        if (wake is not null)
        {
            try
            {
                if (await wake) signal.Notify();
            }
            catch (OperationCanceledException)
            {
                // Withdrawn.
            }
        }
        return total;
    }

    /// <summary>
    /// Each known channel's <see cref="IOutboxChannel.PrepareBatchAsync"/> with its messages of the claim (a message
    /// <see cref="DeliverAsync"/> then dead-letters without a call was prepared for nothing, which is harmless).
    /// </summary>
    private async Task PrepareBatchAsync(IReadOnlyList<OutboxMessage> batch, CancellationToken ct)
    {
        if (batch.Count == 0) return;
        foreach (var group in batch.Where(m => byName.ContainsKey(m.Channel)).GroupBy(m => m.Channel, StringComparer.OrdinalIgnoreCase))
        {
            try
            {
                await byName[group.Key].PrepareBatchAsync(group.ToList(), ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogWarning(e, "Preparing a batch of {Count} {Channel} messages failed; each delivery reads for itself", group.Count(), group.Key);
            }
        }
    }

    private async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(string claim, int batchSize, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        // A read first: an idle poll then takes no write lock (SQLite has one writer for the whole database).
        var due = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            select id from outbox_messages
            where (status = 'pending' and next_attempt_at <= @now) or (status = 'sending' and lease_until <= @now)
            limit 1
            """, new { now }, cancellationToken: ct));
        if (due is null) return [];
        var parameters = new DynamicParameters(new { claim, now, leaseUntil = now.AddSeconds(options.Value.LeaseSeconds), batchSize });
        var rows = await connection.QueryAsync<OutboxMessage>(new CommandDefinition(ClaimSql(db.Dialect, parameters), parameters, cancellationToken: ct));
        return rows.ToList();
    }

    /// <summary>
    /// The claim (see the class comment). <c>lanes</c>: the distinct lanes of pending messages, one index seek each
    /// (a loose index scan, written as a recursive query because neither database skips through an index by itself);
    /// <c>due</c>: each lane's oldest due messages (a lateral sub-select on PostgreSQL, a correlated <c>in</c> on
    /// SQLite, which has no lateral), plus messages whose lease expired; <c>ranked</c>: each one's turn in its lane;
    /// <c>busy</c>: per target, its messages being sent; <c>picked</c>: turn by turn, a target only up to its
    /// channel's limit; <c>locked</c>: the picked rows still claimable (on PostgreSQL locked, skipping those another
    /// instance is claiming).
    /// </summary>
    private string ClaimSql(Dialect dialect, DynamicParameters parameters)
    {
        var caps = new System.Text.StringBuilder();
        var n = 0;
        foreach (var channel in byName.Values)
        {
            if (channel.MaxInFlightPerTarget is not { } cap) continue;
            caps.Append($" when @capChannel{n} then @cap{n}");
            parameters.Add($"capChannel{n}", channel.Name);
            parameters.Add($"cap{n}", cap);
            n++;
        }
        var limit = n == 0 ? "2147483647" : $"(case r.channel{caps} else 2147483647 end)";
        var laneDue = dialect == Dialect.Postgres
            ? """
              from lanes cross join lateral (
                  select z.id, z.channel, z.lane, z.target, z.next_attempt_at from outbox_messages z
                  where z.status = 'pending' and z.lane = lanes.lane and z.next_attempt_at <= @now
                  order by z.next_attempt_at, z.id limit @batchSize) y
              """
            : """
              from lanes join outbox_messages y on y.id in (
                  select z.id from outbox_messages z
                  where z.status = 'pending' and z.lane = lanes.lane and z.next_attempt_at <= @now
                  order by z.next_attempt_at, z.id limit @batchSize)
              """;
        return $"""
            with recursive lanes(lane) as (
                select (select l.lane from outbox_messages l where l.status = 'pending' order by l.lane limit 1)
                union all
                select (select x.lane from outbox_messages x where x.status = 'pending' and x.lane > lanes.lane order by x.lane limit 1)
                from lanes where lanes.lane is not null
            ),
            due as (
                select y.id, y.channel, y.lane, y.target, y.next_attempt_at
                {laneDue}
                union all
                select * from (
                    select e.id, e.channel, e.lane, e.target, e.next_attempt_at from outbox_messages e
                    where e.status = 'sending' and e.lease_until <= @now
                    order by e.lease_until limit @batchSize) expired
            ),
            ranked as (
                select id, channel, target, next_attempt_at, row_number() over (partition by lane order by next_attempt_at, id) as turn
                from due
            ),
            busy as (
                select target, count(*) as n from outbox_messages
                where status = 'sending' and lease_until > @now and target is not null
                group by target
            ),
            picked as materialized (
                select r.id as picked_id from ranked r left join busy b on b.target = r.target
                where r.target is null or r.turn + coalesce(b.n, 0) <= {limit}
                order by r.turn, r.next_attempt_at, r.id
                limit @batchSize
            ),
            locked as materialized (
                select m.id as locked_id from outbox_messages m
                where m.id in (select picked_id from picked)
                  and ((m.status = 'pending' and m.next_attempt_at <= @now) or (m.status = 'sending' and m.lease_until <= @now))
                {dialect.SkipLocked()}
            )
            update outbox_messages as u
            set status = 'sending', lease_holder = @claim, lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
            from locked
            where u.id = locked.locked_id
              and ((u.status = 'pending' and u.next_attempt_at <= @now) or (u.status = 'sending' and u.lease_until <= @now))
            returning id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts, next_attempt_at,
                      last_error, provider_id, correlation_id, sent_at, created_at, updated_at
            """;
    }

    private async Task DeliverAsync(OutboxMessage message, string claim, DateTimeOffset claimedAt, CancellationToken ct)
    {
        using var correlation = LogContext.PushProperty("CorrelationId", message.CorrelationId ?? message.Id);
        using var messageProperty = LogContext.PushProperty("OutboxMessageId", message.Id);
        var started = time.GetUtcNow();
        DeliveryResult result;
        if (message.Attempts > message.MaxAttempts && !MutatesProviderState(message.Channel))
        {
            // Reclaimed after its last allowed attempt outlived its lease: never sent again, dead-lettered instead.
            result = DeliveryResult.Permanent("The last allowed attempt did not finish within its lease; not sent again.");
        }
        else if (!byName.TryGetValue(message.Channel, out var channel))
        {
            result = DeliveryResult.Permanent($"No channel '{message.Channel}' is registered.");
        }
        else if (message.Sensitive && message.Payload == OutboxMessage.ErasedPayload)
        {
            result = DeliveryResult.Permanent("The payload held a secret and was erased when the message was finished; it cannot be sent again.");
        }
        else
        {
            // The claim must still be ours right before the provider is called, and the lease is renewed for the
            // call: whatever delayed this delivery since the claim, another instance may not send it meanwhile. A claim
            // younger than a third of its lease still has two thirds of it (only an expired lease is claimed again),
            // so it is renewed only when preparing took longer than that (a send-rate wait).
            await channel.PrepareAsync(message, ct);
            if (time.GetUtcNow() - claimedAt >= TimeSpan.FromSeconds(options.Value.LeaseSeconds / 3.0) && !await RenewLeaseAsync(message.Id, claim, ct))
            {
                log.LogWarning("Outbox message {OutboxMessageId} lost its lease before it was sent; left to its new claim", message.Id);
                return;
            }
            // A long delivery (a recording's copy) keeps its lease: renewed every third of it while the channel works,
            // so no other instance claims the message meanwhile. A renewal that finds the claim gone stops the delivery.
            using var delivering = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var renewing = KeepLeaseAsync(message.Id, claim, delivering);
            try
            {
                result = await channel.DeliverAsync(message, delivering.Token);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Shutting down: the lease expires and another round (or instance) delivers it.
                throw;
            }
            catch (Exception e)
            {
                result = DeliveryResult.Transient(Truncate(e.GetType().Name + ": " + e.Message));
            }
            finally
            {
                await delivering.CancelAsync();
                await renewing;
            }
        }

        // Recorded by the group commit; the slot is freed once the result is committed.
        var pending = new PendingResult(message, claim, started, result);
        bool start;
        lock (resultsGate)
        {
            results.Add(pending);
            start = !writing;
            writing = true;
        }
        if (start) _ = Task.Run(WriteResultsAsync, CancellationToken.None);
        await pending.Done.Task;
    }

    /// <summary>Results waiting for the next group commit (tests wait on it to make a group of a known size).</summary>
    internal int ResultsWaiting
    {
        get
        {
            lock (resultsGate) return results.Count;
        }
    }

    private sealed record PendingResult(OutboxMessage Message, string Claim, DateTimeOffset Started, DeliveryResult Result)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public RecordedResult? Recorded { get; set; }
    }

    /// <summary>What a result's transaction did, for the log lines and metrics once it committed.</summary>
    private sealed record RecordedResult(string Final, bool Deferred, DateTimeOffset NextAttemptAt, string? Error, bool Applied);

    /// <summary>
    /// The single writer of results: while one transaction commits, the results that finish meanwhile queue up and go
    /// together into the next one. Should a group's transaction fail (one listener's error, a deadlock on PostgreSQL),
    /// each of its results is written again in a transaction of its own, so one bad result never loses the others.
    /// </summary>
    private async Task WriteResultsAsync()
    {
        while (true)
        {
            List<PendingResult> group;
            lock (resultsGate)
            {
                if (results.Count == 0)
                {
                    writing = false;
                    return;
                }
                group = results;
                results = [];
            }
            try
            {
                // Not cancellable: a delivery that happened must be recorded even while the host stops.
                await db.InTransactionAsync(async (connection, tx) =>
                {
                    var counts = new List<HourlyIncrement>();
                    foreach (var item in group) item.Recorded = await RecordAsync(connection, tx, item, counts);
                    // One upsert for the whole group, last, so the (sharded) counter rows are locked only until the commit that follows.
                    await HourlyCounts.AddAsync(connection, tx, time.GetUtcNow(), counts, CancellationToken.None);
                });
            }
            catch (Exception e) when (group.Count > 1)
            {
                log.LogWarning(e, "Recording {Count} delivery results in one transaction failed; recording each on its own", group.Count);
                foreach (var item in group)
                {
                    try
                    {
                        await db.InTransactionAsync(async (connection, tx) =>
                        {
                            var counts = new List<HourlyIncrement>();
                            item.Recorded = await RecordAsync(connection, tx, item, counts);
                            await HourlyCounts.AddAsync(connection, tx, time.GetUtcNow(), counts, CancellationToken.None);
                        });
                    }
                    catch (Exception single)
                    {
                        item.Recorded = null;
                        // The claim stays until its lease expires; the message is then attempted again.
                        log.LogError(single, "Could not record the delivery result of outbox message {OutboxMessageId}", item.Message.Id);
                    }
                }
            }
            catch (Exception e)
            {
                group[0].Recorded = null;
                log.LogError(e, "Could not record the delivery result of outbox message {OutboxMessageId}", group[0].Message.Id);
            }
            foreach (var item in group)
            {
                if (item.Recorded is { } recorded) Committed(item, recorded);
                item.Done.TrySetResult();
            }
        }
    }

    private async Task KeepLeaseAsync(string id, string claim, CancellationTokenSource delivering)
    {
        var every = TimeSpan.FromSeconds(options.Value.LeaseSeconds / 3.0);
        try
        {
            while (true)
            {
                await Task.Delay(every, time, delivering.Token);
                // Held while no other claim took it, even if this instance was too slow to renew in time (a paused process).
                if (await RenewLeaseAsync(id, claim, delivering.Token, requireUnexpired: false)) continue;
                log.LogWarning("Outbox message {OutboxMessageId} lost its lease while being sent; its delivery is stopped", id);
                await delivering.CancelAsync();
                return;
            }
        }
        catch (OperationCanceledException)
        {
            // The delivery finished (or the host stops).
        }
        catch (Exception e)
        {
            log.LogError(e, "Could not renew the lease of outbox message {OutboxMessageId}", id);
        }
    }

    private async Task<bool> RenewLeaseAsync(string id, string claim, CancellationToken ct, bool requireUnexpired = true)
    {
        var now = time.GetUtcNow();
        await using var connection = await db.OpenAsync(ct);
        var renewed = await connection.ExecuteAsync(new CommandDefinition(
            """
            update outbox_messages set lease_until = @leaseUntil, updated_at = @now
            where id = @id and lease_holder = @claim and status = 'sending' and (lease_until > @now or not @requireUnexpired)
            """, new { id, claim, now, requireUnexpired, leaseUntil = now.AddSeconds(options.Value.LeaseSeconds) }, cancellationToken: ct));
        return renewed == 1;
    }

    /// <summary>Records one result in the group's transaction: the channel's own write, then the message's row (while the claim is still ours), its attempt row, the listeners.</summary>
    /// <remarks>The hourly counts of the result (the dispatcher's and the channel's) go to <paramref name="counts"/>, which the caller adds in one statement before committing.</remarks>
    private async Task<RecordedResult> RecordAsync(DbConnection connection, DbTransaction tx, PendingResult item, List<HourlyIncrement> counts)
    {
        var (message, claim, started, result) = (item.Message, item.Claim, item.Started, item.Result);
        var now = time.GetUtcNow();
        // A provider-mutating message is never given up by count: its delay is capped at MaxDelaySeconds and it goes on.
        var exhausted = message.Attempts >= message.MaxAttempts && !MutatesProviderState(message.Channel);
        var final = result.Outcome switch
        {
            DeliveryOutcome.Sent => OutboxStatus.Sent,
            DeliveryOutcome.Permanent => OutboxStatus.Dead,
            DeliveryOutcome.Deferred => OutboxStatus.Pending,
            _ => exhausted ? OutboxStatus.Dead : OutboxStatus.Pending,
        };
        var deferred = result.Outcome == DeliveryOutcome.Deferred;
        var nextAttemptAt = deferred ? now + (result.RetryAfter ?? TimeSpan.FromSeconds(1))
            : final == OutboxStatus.Pending ? now + RetryDelay(message.Channel, message.Attempts, result.RetryAfter) : message.NextAttemptAt;
        var error = result.Error is null ? null : Truncate(result.Error);

        if (result.Write is { } write) await write(connection, tx);
        counts.AddRange(result.Counts);
        var updated = await connection.QuerySingleOrDefaultAsync<OutboxMessage>(new CommandDefinition(
            """
            update outbox_messages
            set status = @final, next_attempt_at = @nextAttemptAt, lease_holder = null, lease_until = null,
                attempts = case when @deferred then attempts - 1 else attempts end,
                payload = case when sensitive and @final <> 'pending' then @erased else payload end,
                last_error = @error, provider_id = coalesce(@providerId, provider_id),
                sent_at = case when @final = 'sent' then @now else sent_at end, updated_at = @now
            where id = @Id and lease_holder = @claim and status = 'sending'
            returning id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts, next_attempt_at,
                      last_error, provider_id, correlation_id, sent_at, created_at, updated_at
            """,
            new { message.Id, claim, final, deferred, nextAttemptAt, error, providerId = result.ProviderId, now, erased = OutboxMessage.ErasedPayload }, tx));
        if (updated is null) return new RecordedResult(final, deferred, nextAttemptAt, error, Applied: false);

        var outcome = final switch
        {
            OutboxStatus.Sent => "sent",
            OutboxStatus.Dead => result.Outcome == DeliveryOutcome.Permanent ? "permanent_failure" : "attempts_exhausted",
            _ => deferred ? "deferred" : "retry",
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into outbox_attempts (id, message_id, attempt, outcome, error, retry_after_ms, started_at, finished_at, created_at, updated_at)
            values (@id, @messageId, @attempt, @outcome, @error, @retryAfterMs, @started, @now, @now, @now)
            """,
            new
            {
                id = Ids.New(time), messageId = message.Id, attempt = message.Attempts, outcome, error,
                retryAfterMs = result.RetryAfter is { } ra ? (long?)ra.TotalMilliseconds : null, started, now,
            }, tx));

        // A deferred message was not attempted: nothing for the listeners (or the hourly counts) to hear.
        if (!deferred)
            foreach (var listener in listeners)
                if (final != OutboxStatus.Pending) await listener.OnFinishedAsync(connection, tx, updated, result, CancellationToken.None);
                else await listener.OnRetryingAsync(connection, tx, updated, result, CancellationToken.None);
        if (!deferred) counts.Add(new HourlyIncrement(HourlyCountKinds.Outbox, message.Channel, outcome));
        return new RecordedResult(final, deferred, nextAttemptAt, error, Applied: true);
    }

    /// <summary>Metrics and the log line of a committed result.</summary>
    private void Committed(PendingResult item, RecordedResult recorded)
    {
        var message = item.Message;
        if (!recorded.Applied)
        {
            log.LogWarning("Outbox message {OutboxMessageId} was claimed again before its result was recorded (lease expired)", message.Id);
            return;
        }
        using var correlation = LogContext.PushProperty("CorrelationId", message.CorrelationId ?? message.Id);
        using var messageProperty = LogContext.PushProperty("OutboxMessageId", message.Id);
        switch (recorded.Final)
        {
            case OutboxStatus.Sent:
                OutboxMetrics.Sent.WithLabels(message.Channel).Inc();
                log.LogInformation("Outbox message {OutboxMessageId} ({Channel}) sent on attempt {Attempt}", message.Id, message.Channel, message.Attempts);
                break;
            case OutboxStatus.Dead:
                OutboxMetrics.Dead.WithLabels(message.Channel).Inc();
                log.LogWarning("Outbox message {OutboxMessageId} ({Channel}) is dead after attempt {Attempt}: {Error}", message.Id, message.Channel, message.Attempts, recorded.Error);
                break;
            case OutboxStatus.Pending when recorded.Deferred:
                log.LogDebug("Outbox message {OutboxMessageId} ({Channel}) deferred to {NextAttemptAt}: {Error}", message.Id, message.Channel, recorded.NextAttemptAt, recorded.Error);
                break;
            default:
                OutboxMetrics.Retried.WithLabels(message.Channel).Inc();
                log.LogInformation("Outbox message {OutboxMessageId} ({Channel}) failed attempt {Attempt}, retrying at {NextAttemptAt}: {Error}",
                    message.Id, message.Channel, message.Attempts, recorded.NextAttemptAt, recorded.Error);
                break;
        }
    }

    /// <summary>
    /// Exponential backoff: base × 2^(attempt−1), plus up to 20 % jitter so that instances retrying after one
    /// outage do not all come back at the same instant; never earlier than the provider's <c>Retry-After</c>.
    /// </summary>
    internal TimeSpan RetryDelay(string channel, int attempt, TimeSpan? retryAfter)
    {
        if (byName.TryGetValue(channel, out var c) && c.RetryDelay(attempt) is { } scheduled)
            return retryAfter is { } after && after > scheduled ? after : scheduled;
        var o = options.Value;
        var (_, baseDelay) = o.ScheduleFor(channel);
        var seconds = Math.Min(baseDelay * Math.Pow(2, Math.Max(0, attempt - 1)), o.MaxDelaySeconds);
        seconds *= 1 + Random.Shared.NextDouble() * 0.2;
        var delay = TimeSpan.FromSeconds(seconds);
        return retryAfter is { } ra && ra > delay ? ra : delay;
    }

    private bool MutatesProviderState(string channel) => byName.TryGetValue(channel, out var c) && c.MutatesProviderState;

    private static string Truncate(string s) => s.Length > 2000 ? s[..2000] : s;
}
