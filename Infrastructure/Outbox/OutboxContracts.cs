namespace Backstop.Infrastructure.Outbox;

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
