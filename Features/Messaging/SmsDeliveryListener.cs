using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox.Sms;

namespace Backstop.Features.Messaging;

/// <summary>Records Twilio's SID (→ <c>sent</c>) or the final failure (→ <c>failed</c>) on the SMS row, in the outbox's own transaction.</summary>
internal sealed class SmsDeliveryListener(TimeProvider time, IEventPublisher events) : IOutboxListener
{
    public async Task OnFinishedAsync(DbConnection connection, DbTransaction transaction, OutboxMessage message, DeliveryResult result, CancellationToken ct)
    {
        if (message.Channel != OutboxSms.Channel || message.Reference is null) return;
        var now = time.GetUtcNow();
        if (result.Outcome == DeliveryOutcome.Sent)
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update sms_messages set provider_sid = @sid, status = 'sent', error = null, updated_at = @now
                where id = @id and status in ('queued', 'failed')
                """, new { sid = result.ProviderId, now, id = message.Reference }, transaction, cancellationToken: ct));
        else if (await connection.ExecuteAsync(new CommandDefinition(
                """
                update sms_messages set status = 'failed', error = @error, error_code = coalesce(@errorCode, error_code), updated_at = @now
                where id = @id and status = 'queued'
                """,
                new { error = result.Error, errorCode = result.ErrorCode, now, id = message.Reference }, transaction, cancellationToken: ct)) > 0)
            await MessagingEvents.StatusAsync(events, connection, transaction, message.Reference, ct);
    }
}
