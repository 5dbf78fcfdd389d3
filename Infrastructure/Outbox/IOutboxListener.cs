namespace Backstop.Infrastructure.Outbox;

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
