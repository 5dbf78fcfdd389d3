using Backstop.Infrastructure.Inbox;
using System.Security;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.Messaging;

/// <summary>
/// <c>sms.inbound</c>: STOP-family keywords opt the sender out, START-family opt them back in; each change is
/// audited with the message SID. The audit row is inserted first with <c>on conflict (message_sid) do nothing</c>: a
/// redelivered or replayed message finds its row taken and changes nothing a second time. Messages can be processed
/// out of order (an inbox retry of a STOP after a later START): <c>sms_consent_states</c> keeps, per number, the
/// receive time of the message that set its consent, and a conditional upsert applies a change only when its message
/// was received later; an older one is audited with <c>applied = false</c> and changes nothing.
/// </summary>
internal sealed class InboundSmsHandler(TimeProvider time, PhoneNumberNormalizer phones, IAuditLog audit, IEventPublisher events, ILogger<InboundSmsHandler> log) : IWebhookHandler
{
    public const string EventType = "sms.inbound";

    public string Provider => "twilio";

    public bool Handles(string eventType) => eventType == EventType;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var payload = context.Event.Payload;
        var keyword = SmsKeywords.Classify(TwilioForm.Field(payload, "Body"));
        if (keyword is SmsKeyword.None or SmsKeyword.Help) return;

        var from = phones.ToE164(TwilioForm.Field(payload, "From"));
        if (from is null)
        {
            log.LogWarning("Inbound SMS {EventId} has no valid sender number; consent unchanged", context.Event.EventId);
            return;
        }
        var sid = TwilioForm.Field(payload, "MessageSid") ?? TwilioForm.Field(payload, "SmsSid") ?? context.Event.EventId;
        var action = keyword == SmsKeyword.OptOut ? "opt_out" : "opt_in";
        var now = time.GetUtcNow();
        var (c, tx) = (context.Connection, context.Transaction);

        var audited = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into sms_consent_audit (id, phone_number, action, method, keyword, message_sid, created_at)
            values (@id, @from, @action, 'keyword', @keyword, @sid, @now)
            on conflict (message_sid) do nothing
            returning id
            """,
            new { id = Ids.New(time), from, action, keyword = TwilioForm.Field(payload, "Body")!.Trim().ToUpperInvariant(), sid, now }, tx, cancellationToken: ct));
        if (audited is null) return;

        // The database decides whether this message is the number's latest word: the state moves only to a message
        // received later than the one that set it, so a STOP retried after a later START cannot undo the START.
        var eventAt = context.Event.ReceivedAt;
        var optedOut = keyword == SmsKeyword.OptOut;
        var latest = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into sms_consent_states (phone_number, opted_out, event_at, message_sid, created_at, updated_at)
            values (@from, @optedOut, @eventAt, @sid, @now, @now)
            on conflict (phone_number) do update
                set opted_out = excluded.opted_out, event_at = excluded.event_at, message_sid = excluded.message_sid, updated_at = excluded.updated_at
                where sms_consent_states.event_at < excluded.event_at
            returning phone_number
            """, new { from, optedOut, eventAt, sid, now }, tx, cancellationToken: ct));
        if (latest is null)
        {
            await c.ExecuteAsync(new CommandDefinition(
                "update sms_consent_audit set applied = @applied where id = @audited", new { applied = false, audited }, tx, cancellationToken: ct));
            log.LogInformation("SMS consent change {Action} (message {MessageSid}) skipped: a message received later already set the number's consent",
                action, sid);
            return;
        }

        if (optedOut)
        {
            await c.ExecuteAsync(new CommandDefinition(
                """
                insert into sms_opt_outs (phone_number, id, method, opted_out_at, created_at, updated_at)
                values (@from, @id, 'keyword', @eventAt, @now, @now)
                on conflict (phone_number) do update set opted_out_at = excluded.opted_out_at, method = excluded.method, updated_at = excluded.updated_at
                """, new { from, id = Ids.New(time), eventAt, now }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SmsOptOut, "phone_number", from,
                Changes: new { keyword = "opt_out", messageSid = sid }, Actor: "provider:twilio"), ct);
        }
        else
        {
            var deleted = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "delete from sms_opt_outs where phone_number = @from returning id", new { from }, tx, cancellationToken: ct));
            if (deleted is not null)
                await audit.RecordAsync(c, tx, new AuditEntry(AuditActions.SmsOptOutDelete, "sms_opt_out", deleted,
                    Changes: new { deleted = "hard", phoneNumber = from, keyword = "opt_in", messageSid = sid }, Actor: "provider:twilio"), ct);
        }
        await MessagingEvents.ConsentAsync(events, c, tx, new SmsConsentChange(from, optedOut, "keyword", sid, eventAt), ct);
        log.LogInformation("SMS consent of a number changed by keyword: {Action} (message {MessageSid})", action, sid);
    }
}
