using Backstop.Infrastructure.Events;

namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// <c>inbox.event_dead</c>'s <c>data</c>: the inbound event as <c>GET /v1/admin/webhooks/{id}</c> identifies it, without
/// its body (a provider's payload carries customers' data and is read through the admin API).
/// </summary>
/// <param name="Id">The stored event's id (<c>/v1/admin/webhooks/{id}</c>, and its replay).</param>
/// <param name="EventId">The provider's own event id.</param>
/// <param name="Attempts">Processing attempts made, the last one included.</param>
/// <param name="LastError">The last attempt's error.</param>
internal sealed record InboxEventDead(string Id, string Provider, string EventId, string EventType, int Attempts, string? LastError, DateTimeOffset ReceivedAt);

/// <summary>The inbox's outbound event, written in the transaction that marks an event dead; it belongs to no organization.</summary>
internal static class InboxEvents
{
    public static Task DeadAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, InboxEventDead dead, CancellationToken ct) =>
        events.PublishAsync(connection, tx, EventTypes.InboxEventDead, null, dead, ct);
}
