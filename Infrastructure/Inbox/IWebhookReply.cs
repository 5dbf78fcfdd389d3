namespace Backstop.Infrastructure.Inbox;

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
