using Backstop.Infrastructure.Inbox;
using System.Security;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Messaging;

/// <summary>
/// <c>sms.status</c>: moves an SMS forward (<c>queued</c> → <c>sent</c> → <c>delivered</c> | <c>failed</c>) and never
/// back, so callbacks arriving out of order cannot undo a later state.
/// </summary>
internal sealed class SmsStatusHandler(TimeProvider time, IEventPublisher events, ILogger<SmsStatusHandler> log) : IWebhookHandler
{
    public const string EventType = "sms.status";

    // A callback can overtake the outbox recording Twilio's SID; the inbox retries the event meanwhile.
    private const int AttemptsWhileSidMayBeUnrecorded = 5;

    public string Provider => "twilio";

    public bool Handles(string eventType) => eventType == EventType;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var payload = context.Event.Payload;
        var sid = TwilioForm.Field(payload, "MessageSid") ?? TwilioForm.Field(payload, "SmsSid");
        var (status, rank) = (TwilioForm.Field(payload, "MessageStatus") ?? TwilioForm.Field(payload, "SmsStatus")) switch
        {
            "sent" => (SmsStatus.Sent, 1),
            "delivered" or "read" => (SmsStatus.Delivered, 2),
            "undelivered" or "failed" => (SmsStatus.Failed, 2),
            _ => ((string?)null, 0),
        };
        if (sid is null || status is null) return;

        var errorCode = TwilioForm.Field(payload, "ErrorCode");
        var now = time.GetUtcNow();
        var updated = await context.Connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            update sms_messages
            set status = @status, error_code = coalesce(@errorCode, error_code), updated_at = @now
            where provider_sid = @sid
              and (case status when 'queued' then 0 when 'sent' then 1 else 2 end) < @rank
            returning id
            """, new { status, errorCode = string.IsNullOrEmpty(errorCode) ? null : errorCode, now, sid, rank },
            context.Transaction, cancellationToken: ct));
        if (updated is not null) await MessagingEvents.StatusAsync(events, context.Connection, context.Transaction, updated, ct);
        if (updated is not null) return;

        var known = await context.Connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select id from sms_messages where provider_sid = @sid", new { sid }, context.Transaction, cancellationToken: ct));
        if (known is not null) return; // already at this state or a later one

        if (context.Event.Attempts < AttemptsWhileSidMayBeUnrecorded)
            throw new InvalidOperationException($"No SMS with Twilio SID {sid} is recorded yet.");
        log.LogWarning("Status callback for Twilio SID {MessageSid} that matches no SMS of this service; ignored", sid);
    }
}
