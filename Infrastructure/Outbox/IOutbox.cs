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
