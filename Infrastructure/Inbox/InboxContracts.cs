namespace Backstop.Infrastructure.Inbox;

/// <summary>A stored inbound event as handlers see it. <see cref="Payload"/> is the raw body as received (for
/// form-encoded providers such as Twilio: a JSON object of the form fields).</summary>
internal sealed record WebhookEvent(
    string Id,
    string Provider,
    string EventId,
    string EventType,
    string Payload,
    DateTimeOffset ReceivedAt,
    int Attempts);

/// <summary>What a handler gets: the event, and the open transaction in which the inbox processes it. Everything a
/// handler writes (its own rows, outbox messages) must go through this connection and transaction, so that the
/// effects and the event's "processed" mark commit together or not at all.</summary>
internal sealed record WebhookContext(DbConnection Connection, DbTransaction Transaction, WebhookEvent Event);

internal sealed record WebhookReplyBody(string ContentType, string Body);
