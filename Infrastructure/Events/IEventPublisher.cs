using Prometheus;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// Writes an outbound event in the transaction of the change it describes (no change, no event; a change, always
/// its event), and one outbox message per enabled endpoint that subscribes to it: the operator's endpoints (every
/// organization) and the organization's own. Delivery is the <c>event</c> outbox channel's job.
/// </summary>
public interface IEventPublisher
{
    /// <summary>
    /// Stores the event in <paramref name="transaction"/> with the next <c>sequence</c> of its stream (the
    /// organization's, or the operator's when <paramref name="organizationId"/> is null) and enqueues its deliveries.
    /// <paramref name="data"/> is the resource's public representation as the REST API shows it, serialised as JSON
    /// (web defaults: camelCase); never a secret. Answers the event's id (<c>evt_…</c>).
    /// </summary>
    Task<string> PublishAsync(DbConnection connection, DbTransaction transaction, string type, string? organizationId, object data, CancellationToken ct);

    /// <summary>
    /// As <see cref="PublishAsync"/> for many events at once (a sweep that changes a batch of rows in one statement):
    /// a constant number of statements whatever the batch's size — one sequence upsert (each stream's numbers taken
    /// as one block, in the order given), one multi-row insert of the events and one of their deliveries per 1,000,
    /// one endpoint lookup. Answers the events' ids in the order given.
    /// </summary>
    Task<IReadOnlyList<string>> PublishManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<EventToPublish> events, CancellationToken ct);

    /// <summary>
    /// In the deletion's transaction: the organization's own endpoints are deleted (soft, so their delivery log stays
    /// readable to the operator) and get nothing more, not even the <c>organization.deleted</c> event published after
    /// this; their pending deliveries are cancelled with the organization's other outbox messages. Answers how many.
    /// </summary>
    Task<int> RetireOrganizationEndpointsAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct);
}

/// <summary>One event of <see cref="IEventPublisher.PublishManyAsync"/>: its type, organization (null: the operator's stream) and data.</summary>
public sealed record EventToPublish(string Type, string? OrganizationId, object Data);

internal sealed record EventEndpointTarget(string Id, string? OrganizationId, string? EventTypes);
