namespace Backstop.Infrastructure.Outbox;

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
