using System.Data.Common;
using System.Text.Json;

namespace Backstop.Infrastructure.Outbox;

/// <summary>
/// Every side effect (email, SMS, provider call) is a row in <c>outbox_messages</c>, written in the caller's own
/// transaction, so the message exists exactly when the state change that caused it committed.
/// </summary>
internal interface IOutbox
{
    /// <summary>
    /// Stores the message in the caller's transaction. The idempotency key is unique: enqueuing the same logical
    /// message twice stores it once (<see cref="EnqueueResult.Created"/> false, the existing id returned).
    /// Wakes this instance's dispatcher; delivery starts once the transaction has committed.
    /// </summary>
    Task<EnqueueResult> EnqueueAsync(DbConnection connection, DbTransaction transaction, OutboxEnvelope message, CancellationToken ct);

    /// <summary>
    /// Stores many messages in the caller's transaction with one multi-row insert per
    /// <see cref="OutboxStore.RowsPerInsert"/> messages (a sweep's batch costs a fixed number of statements, not one
    /// per message). Keys already stored, in the table or earlier in the list, are skipped; answers how many were stored.
    /// </summary>
    Task<int> EnqueueManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<OutboxEnvelope> messages, CancellationToken ct);

    /// <summary>
    /// In the caller's transaction, gives up on every <c>pending</c> message enqueued with this
    /// <see cref="OutboxEnvelope.OrganizationId"/> (status <c>dead</c>, <c>last_error</c> = "cancelled: " + reason):
    /// the organization is gone and nothing more is sent for it. A message being sent right now (<c>sending</c>) is
    /// left to finish. Answers how many were cancelled.
    /// </summary>
    Task<int> CancelPendingAsync(DbConnection connection, DbTransaction transaction, string organizationId, string reason, CancellationToken ct);
}

/// <param name="Channel">The <see cref="IOutboxChannel.Name"/> that delivers it (<c>email</c>, <c>sms</c>, …).</param>
/// <param name="IdempotencyKey">Derived from the operation (e.g. <c>otp:{codeId}</c>), never from the clock; also sent to providers that accept one.</param>
/// <param name="Payload">The channel's payload, stored as JSON.</param>
/// <param name="Reference">Optional id of the enqueuing slice's row this message is about (e.g. an <c>sms_messages</c> id), for <see cref="IOutboxListener"/>s.</param>
/// <param name="Sensitive">The payload holds a secret (a one-time code): it is erased once the message is sent or dead.</param>
internal sealed record OutboxEnvelope(string Channel, string IdempotencyKey, JsonElement Payload, string? Reference = null, bool Sensitive = false)
{
    /// <summary>The organization the message is for: set it for messages that must not go out once the organization is deleted (see <see cref="IOutbox.CancelPendingAsync"/>).</summary>
    public string? OrganizationId { get; init; }

    /// <summary>
    /// What the message is delivered to (an event endpoint's id), for a channel that limits the deliveries in flight
    /// per target (<see cref="IOutboxChannel.MaxInFlightPerTarget"/>): a claim leaves a target's messages unclaimed
    /// while that many of its messages are being sent, and is fair across targets (else across organizations).
    /// </summary>
    public string? Target { get; init; }

    public static OutboxEnvelope Create<T>(string channel, string idempotencyKey, T payload, string? reference = null, bool sensitive = false) =>
        new(channel, idempotencyKey, JsonSerializer.SerializeToElement(payload, OutboxJson.Options), reference, sensitive);
}

internal sealed record EnqueueResult(string Id, bool Created);

internal static class OutboxStatus
{
    public const string Pending = "pending";
    public const string Sending = "sending";
    public const string Sent = "sent";
    public const string Dead = "dead";
}

internal static class OutboxJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

/// <summary>A claimed message as a channel sees it.</summary>
internal sealed record OutboxMessage
{
    public string Id { get; init; } = "";
    public string Channel { get; init; } = "";
    public string IdempotencyKey { get; init; } = "";
    public string Payload { get; init; } = "{}";
    public string? Reference { get; init; }
    public bool Sensitive { get; init; }
    public string Status { get; init; } = "";
    public int Attempts { get; init; }
    public int MaxAttempts { get; init; }
    public DateTimeOffset NextAttemptAt { get; init; }
    public string? LastError { get; init; }
    public string? ProviderId { get; init; }
    public string? CorrelationId { get; init; }
    public DateTimeOffset? SentAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The payload of a sensitive message after it was sent or given up on.</summary>
    public const string ErasedPayload = "{}";

    public T PayloadAs<T>() => JsonSerializer.Deserialize<T>(Payload, OutboxJson.Options)
                               ?? throw new InvalidOperationException($"Outbox message {Id} has an empty payload.");
}

/// <summary>Delivers the messages of one channel. Registered as a singleton <see cref="IOutboxChannel"/>.</summary>
internal interface IOutboxChannel
{
    string Name { get; }

    /// <summary>
    /// Delivers once. Answer <see cref="DeliveryResult.Transient"/> for what may work later (network, timeout,
    /// 5xx, 429) and <see cref="DeliveryResult.Permanent"/> for what never will; an exception counts as transient.
    /// </summary>
    Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct);

    /// <summary>
    /// Waits for whatever the channel must wait for before a send (a send-rate permit). Called before the dispatcher
    /// renews the message's lease, so that waiting here can never eat into the lease the send itself relies on.
    /// </summary>
    Task PrepareAsync(OutboxMessage message, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// Called once per claim with the claimed messages of this channel that are about to be delivered, before any of
    /// their deliveries starts: a channel that reads rows for each message (an event and its endpoint) reads them
    /// for the whole batch here, in a few statements, instead of a few per message. Must not fail the batch: an
    /// exception is logged and each delivery then reads for itself.
    /// </summary>
    Task PrepareBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// The channel changes state at a provider (cancel a subscription, stop a bot): its messages are never given up
    /// by attempt count — a transient failure backs off up to <c>Outbox:MaxDelaySeconds</c> and is tried again for as
    /// long as it takes (listeners hear of each failure through <see cref="IOutboxListener.OnRetryingAsync"/>, to
    /// alert); only a permanent failure makes them <c>dead</c>.
    /// </summary>
    bool MutatesProviderState => false;

    /// <summary>
    /// The channel's own retry schedule: the delay after failed attempt <paramref name="attempt"/> (1-based), used
    /// exactly (no jitter; never earlier than a <c>Retry-After</c>) instead of the exponential backoff. Null: backoff.
    /// </summary>
    TimeSpan? RetryDelay(int attempt) => null;

    /// <summary>
    /// At most this many of the channel's messages with one <see cref="OutboxEnvelope.Target"/> are claimed (being
    /// sent) at once, across every instance: the claim itself leaves the others pending, so they never take a
    /// dispatcher slot only to be deferred. Null: no limit.
    /// </summary>
    int? MaxInFlightPerTarget => null;
}

internal enum DeliveryOutcome
{
    Sent,
    Transient,
    Permanent,

    /// <summary>
    /// Not attempted (the channel's own per-target concurrency or rate limit is full): the message goes back to
    /// <c>pending</c>, due after <see cref="DeliveryResult.RetryAfter"/>, and the claim's attempt is given back.
    /// </summary>
    Deferred,
}

/// <param name="ErrorCode">The provider's own error code (Twilio's 21211, 21610, …), for slices that show it.</param>
internal sealed record DeliveryResult(DeliveryOutcome Outcome, string? ProviderId = null, string? Error = null, TimeSpan? RetryAfter = null, string? ErrorCode = null)
{
    /// <summary>
    /// The channel's own record of the attempt (the event channel's delivery log and endpoint health), written in the
    /// transaction that records the result — before the claim is checked, so the attempt is logged even when the
    /// result cannot be recorded because the claim was lost. That transaction may hold the results of other
    /// deliveries too (a group commit); should it fail, each result is written again in a transaction of its own.
    /// </summary>
    public Func<DbConnection, DbTransaction, Task>? Write { get; init; }

    /// <summary>
    /// The channel's own hourly counts of this attempt (the event channel's delivery outcome), added with the
    /// dispatcher's to the group commit's one <c>hourly_counts</c> upsert — whether or not the claim still holds, as
    /// <see cref="Write"/>.
    /// </summary>
    public IReadOnlyList<Backstop.Infrastructure.Stats.HourlyIncrement> Counts { get; init; } = [];

    public static DeliveryResult Sent(string? providerId = null) => new(DeliveryOutcome.Sent, providerId);

    public static DeliveryResult Transient(string error, TimeSpan? retryAfter = null) => new(DeliveryOutcome.Transient, Error: error, RetryAfter: retryAfter);

    public static DeliveryResult Permanent(string error) => new(DeliveryOutcome.Permanent, Error: error);

    public static DeliveryResult Deferred(string reason, TimeSpan after) => new(DeliveryOutcome.Deferred, Error: reason, RetryAfter: after);
}

/// <summary>
/// Told when a message reaches a final state (<c>sent</c> or <c>dead</c>), inside the transaction that records it,
/// so a slice's own status row changes together with the outbox row. Registered as a singleton.
/// </summary>
internal interface IOutboxListener
{
    Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct);

    /// <summary>Told when an attempt failed transiently and the message was scheduled again, in the transaction that records it.</summary>
    Task OnRetryingAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct) => Task.CompletedTask;
}
