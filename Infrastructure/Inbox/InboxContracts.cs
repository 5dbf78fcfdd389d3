using System.Data.Common;

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

/// <summary>
/// A slice's handler for one provider's event types. Registered in DI as <see cref="IWebhookHandler"/> (scoped);
/// the inbox runs <b>every</b> handler whose <see cref="Provider"/> matches and whose <see cref="Handles"/> accepts
/// the event type (several slices may care about one event), ordered by <see cref="Order"/> and then by the
/// handler's full type name, all in the event's one transaction: the event is processed only when all succeeded.
/// An event type that no handler accepts is stored as <c>ignored</c> and acknowledged.
/// Provider names: <c>stripe</c>, <c>clerk</c>, <c>recall</c>, <c>deepgram</c>, <c>paddle</c>, <c>twilio</c>.
/// Twilio event types: <c>sms.inbound</c> (POST /webhooks/twilio/sms) and <c>sms.status</c> (POST /webhooks/twilio/status).
/// Throwing rolls the whole transaction back (every handler's writes); the inbox records the error and retries
/// later, running all handlers again.
/// </summary>
internal interface IWebhookHandler
{
    string Provider { get; }

    bool Handles(string eventType);

    /// <summary>Where this handler runs among the handlers of one event: lower first (default 0).</summary>
    int Order => 0;

    Task HandleAsync(WebhookContext context, CancellationToken ct);
}

/// <summary>
/// Optional: the body a provider must be answered with instead of an empty 200 (Twilio inbound SMS expects TwiML).
/// Computed from the event alone, so a duplicate delivery gets the same answer as the first one.
/// </summary>
internal interface IWebhookReply
{
    string Provider { get; }

    string EventType { get; }

    WebhookReplyBody Reply(WebhookEvent webhookEvent);
}

internal sealed record WebhookReplyBody(string ContentType, string Body);
