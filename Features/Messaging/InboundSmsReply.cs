using Backstop.Infrastructure.Inbox;
using System.Security;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Messaging;

/// <summary>The TwiML answer to an inbound SMS, computed from the event alone so a duplicate gets the same answer.</summary>
internal sealed class InboundSmsReply(IOptions<MessagingOptions> options) : IWebhookReply
{
    public string Provider => "twilio";

    public string EventType => InboundSmsHandler.EventType;

    public WebhookReplyBody Reply(WebhookEvent webhookEvent)
    {
        var o = options.Value;
        var text = SmsKeywords.Classify(TwilioForm.Field(webhookEvent.Payload, "Body")) switch
        {
            SmsKeyword.OptOut => o.OptOutReply,
            SmsKeyword.OptIn => o.OptInReply,
            SmsKeyword.Help => o.HelpReply,
            _ => null,
        };
        return new WebhookReplyBody("text/xml", TwiML(text));
    }

    public static string TwiML(string? message) =>
        message is null
            ? """<?xml version="1.0" encoding="UTF-8"?><Response></Response>"""
            : $"""<?xml version="1.0" encoding="UTF-8"?><Response><Message>{SecurityElement.Escape(message)}</Message></Response>""";
}
