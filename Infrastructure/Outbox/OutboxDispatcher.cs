using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Stats;
using Dapper;
using Microsoft.Extensions.Options;
using Serilog.Context;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// Claims due messages and delivers them. Claiming is one conditional <c>update … returning</c>: a row is taken
/// only while it is <c>pending</c> and due, or <c>sending</c> with an expired lease (its instance died), and the
/// taker's claim token is written with a lease. Two instances racing for a row: on PostgreSQL the second update
/// waits for the first's row lock and then re-checks the condition against the committed row (no longer claimable),
/// on SQLite writers are serialised; either way one instance gets it. Results are recorded only while the claim
/// token still matches, so a delivery that outlived its lease cannot overwrite the newer claim's outcome.
/// <para>Fair across organizations: a claim takes every organization's oldest due message first, then each one's
/// second, and so on (a window over the due rows, partitioned by organization; messages of no organization are one
/// more partition), so one tenant's backlog of thousands never delays another tenant's next SMS or event by more than
/// one batch. The price is that a claim reads every due row's id once (a few milliseconds for thousands), and that on
/// PostgreSQL it cannot skip rows another instance is claiming (<c>for update</c> is not allowed with a window
/// function, and locking every due row per claim would cost more than the waits): a second instance waits for the
/// first's row locks, re-checks the condition and gets the rows the first did not take.</para>
/// </summary>
internal sealed class OutboxDispatcher(
    Db db,
    TimeProvider time,
    IEnumerable<IOutboxChannel> channels,
    IEnumerable<IOutboxListener> listeners,
    IOptions<OutboxOptions> options,
    ILogger<OutboxDispatcher> log)
{
    private readonly Dictionary<string, IOutboxChannel> byName = channels.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Delivers every message due now, in claimed batches, until a claim comes back short. Returns how many were attempted.</summary>
    public Task<int> DispatchDueAsync(CancellationToken ct = default) => DispatchDueAsync(int.MaxValue, ct);

    /// <summary>As <see cref="DispatchDueAsync(CancellationToken)"/>, stopping after <paramref name="maxBatches"/> claims (tests look at what the first claims took).</summary>
    /// <remarks>
    /// A window of <c>Outbox:Parallelism</c> deliveries, not rounds: as soon as one delivery ends, its slot claims
    /// the next due message, and while a slot is free and nothing was due, the window looks again every
    /// <c>Outbox:PollIntervalMilliseconds</c>. So one slow delivery (an event endpoint that hangs until its timeout)
    /// holds one slot, never the others' next messages. Returns once nothing is due and nothing is in flight.
    /// </remarks>
    public async Task<int> DispatchDueAsync(int maxBatches, CancellationToken ct)
    {
        var o = options.Value;
        var total = 0;
        var claims = 0;
        var due = true;
        var running = new List<Task>();
        while (!ct.IsCancellationRequested)
        {
            var free = o.Parallelism - running.Count;
            if (due && free > 0 && claims < maxBatches)
            {
                // Claim no more than can be sent at once: a claimed message that waited behind slow deliveries could
                // see its lease run out and be claimed (and sent) by another instance while this one still holds it.
                var take = Math.Min(o.BatchSize, free);
                var claim = Ids.New(time);
                var batch = await ClaimAsync(claim, take, ct);
                claims++;
                foreach (var message in batch) running.Add(DeliverAsync(message, claim, ct));
                total += batch.Count;
                if (batch.Count < take) due = false;
                continue;
            }
            if (running.Count == 0) break;

            // Wait for a delivery to end; with a slot free, also look for newly due messages now and then.
            var poll = !due && running.Count < o.Parallelism && claims < maxBatches
                ? Task.Delay(TimeSpan.FromMilliseconds(o.PollIntervalMilliseconds), ct)
                : null;
            var ended = await Task.WhenAny(poll is null ? running : running.Append(poll));
            if (ended == poll)
            {
                due = true;
                continue;
            }
            running.Remove(ended);
            await ended;
            // The slot is free: what became due meanwhile (a retry, a deferred message) is claimed at once.
            due = true;
        }
        await Task.WhenAll(running);
        return total;
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
        var rows = await connection.QueryAsync<OutboxMessage>(new CommandDefinition(
            $"""
            update outbox_messages
            set status = 'sending', lease_holder = @claim, lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
            where id in (
                    select id from (
                        select id, next_attempt_at,
                               row_number() over (partition by organization_id order by next_attempt_at, id) as turn
                        from outbox_messages
                        where (status = 'pending' and next_attempt_at <= @now) or (status = 'sending' and lease_until <= @now)
                    ) due
                    order by turn, next_attempt_at, id
                    limit @batchSize)
              and ((status = 'pending' and next_attempt_at <= @now) or (status = 'sending' and lease_until <= @now))
            returning id, channel, idempotency_key, payload, reference, sensitive, status, attempts, max_attempts, next_attempt_at,
                      last_error, provider_id, correlation_id, sent_at, created_at, updated_at
            """,
            new { claim, now, leaseUntil = now.AddSeconds(options.Value.LeaseSeconds), batchSize }, cancellationToken: ct));
        return rows.ToList();
    }

    private async Task DeliverAsync(OutboxMessage message, string claim, CancellationToken ct)
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
            // call: whatever delayed this delivery since the claim, another instance may not send it meanwhile.
            await channel.PrepareAsync(message, ct);
            if (!await RenewLeaseAsync(message.Id, claim, ct))
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

        try
        {
            await RecordAsync(message, claim, started, result);
        }
        catch (Exception e)
        {
            // The claim stays until its lease expires; the message is then attempted again.
            log.LogError(e, "Could not record the delivery result of outbox message {OutboxMessageId}", message.Id);
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

    private async Task RecordAsync(OutboxMessage message, string claim, DateTimeOffset started, DeliveryResult result)
    {
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

        // Not cancellable: a delivery that happened must be recorded even while the host stops.
        await db.InTransactionAsync(async (connection, tx) =>
        {
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
            if (updated is null)
            {
                log.LogWarning("Outbox message {OutboxMessageId} was claimed again before its result was recorded (lease expired)", message.Id);
                return;
            }

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
            // Last, so the (sharded) counter row is locked only until the commit that follows.
            if (!deferred)
                await HourlyCounts.AddAsync(connection, tx, now, [new HourlyIncrement(HourlyCountKinds.Outbox, message.Channel, outcome)], CancellationToken.None);
        });

        switch (final)
        {
            case OutboxStatus.Sent:
                OutboxMetrics.Sent.WithLabels(message.Channel).Inc();
                log.LogInformation("Outbox message {OutboxMessageId} ({Channel}) sent on attempt {Attempt}", message.Id, message.Channel, message.Attempts);
                break;
            case OutboxStatus.Dead:
                OutboxMetrics.Dead.WithLabels(message.Channel).Inc();
                log.LogWarning("Outbox message {OutboxMessageId} ({Channel}) is dead after attempt {Attempt}: {Error}", message.Id, message.Channel, message.Attempts, error);
                break;
            case OutboxStatus.Pending when deferred:
                log.LogDebug("Outbox message {OutboxMessageId} ({Channel}) deferred to {NextAttemptAt}: {Error}", message.Id, message.Channel, nextAttemptAt, error);
                break;
            default:
                OutboxMetrics.Retried.WithLabels(message.Channel).Inc();
                log.LogInformation("Outbox message {OutboxMessageId} ({Channel}) failed attempt {Attempt}, retrying at {NextAttemptAt}: {Error}",
                    message.Id, message.Channel, message.Attempts, nextAttemptAt, error);
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
