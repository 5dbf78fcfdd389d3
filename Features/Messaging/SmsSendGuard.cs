using Backstop.Infrastructure.Outbox.Sms;

namespace Backstop.Features.Messaging;

/// <summary>
/// Consent and the organization's SMS setting are checked when a message is queued, and again here right before it
/// is sent: a STOP (or "SMS disabled") committed after queueing — a message waiting for a retry, or one queued in the
/// same instant — must still stop it. One read of the current state; the refusal is permanent.
/// </summary>
internal sealed class SmsSendGuard(Db db) : ISmsSendGuard
{
    private sealed record State
    {
        public long OptedOut { get; init; }
        public long Disabled { get; init; }
    }

    public async Task<string?> RefusalAsync(OutboxMessage message, SmsPayload payload, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var state = await connection.QuerySingleAsync<State>(new CommandDefinition(
            """
            select
                (select count(*) from sms_opt_outs where phone_number = @To) as opted_out,
                (select count(*) from sms_messages m
                 join organization_sms_settings s on s.organization_id = m.organization_id
                 where m.id = @Reference and s.sms_enabled = @disabled) as disabled
            """, new { payload.To, message.Reference, disabled = false }, cancellationToken: ct));
        if (state.OptedOut > 0) return "recipient_opted_out: the recipient opted out after the message was queued.";
        if (state.Disabled > 0) return "sms_disabled: the organization disabled SMS after the message was queued.";
        return null;
    }
}
