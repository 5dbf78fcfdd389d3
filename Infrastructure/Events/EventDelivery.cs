using Prometheus;

namespace Backstop.Infrastructure.Events;

/// <summary>The outbox channel that delivers events, and the payload of its messages (one per event and endpoint).</summary>
internal static class EventDelivery
{
    public const string Channel = "event";

    /// <summary>The first delivery of an event to an endpoint; a replay adds its own suffix.</summary>
    public static string IdempotencyKey(string eventId, string endpointId) => $"event:{eventId}:{endpointId}";

    public sealed record Payload(string EventId, string EndpointId);
}
