namespace Backstop.Infrastructure.Inbox;

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
