using Backstop.Infrastructure.Events;

namespace Backstop.Features.Messaging;

/// <param name="PhoneNumber">The number (E.164) whose consent changed.</param>
/// <param name="Method">How: <c>keyword</c> (an inbound STOP or START message).</param>
/// <param name="MessageSid">The Twilio SID of the inbound message that changed it.</param>
/// <param name="At">When the message was received.</param>
internal sealed record SmsConsentChange(string PhoneNumber, bool OptedOut, string Method, string MessageSid, DateTimeOffset At);

/// <summary>
/// The slice's outbound events (docs/events-catalogue.md), written in the transaction of their change.
/// <c>sms.delivered</c> and <c>sms.failed</c> carry the message as <c>GET /v1/sms/{id}</c> shows it (<see cref="SmsView"/>,
/// never its body) and belong to its organization. Consent is per number across all organizations, so
/// <c>sms.opted_out</c> and <c>sms.opted_in</c> belong to no organization (the operator's endpoints receive them).
/// </summary>
internal static class MessagingEvents
{
    /// <summary>Publishes <c>sms.delivered</c> or <c>sms.failed</c> when the SMS <paramref name="id"/> is now at that status (nothing for <c>sent</c>).</summary>
    public static async Task StatusAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, string id, CancellationToken ct)
    {
        var organizationId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select organization_id from sms_messages where id = @id", new { id }, tx, cancellationToken: ct));
        var view = await connection.QuerySingleOrDefaultAsync<SmsView>(new CommandDefinition(
            """
            select id, kind, to_number as "to", status, provider_sid, error, error_code, created_at, updated_at
            from sms_messages where id = @id
            """, new { id }, tx, cancellationToken: ct));
        var type = view?.Status switch
        {
            SmsStatus.Delivered => EventTypes.SmsDelivered,
            SmsStatus.Failed => EventTypes.SmsFailed,
            _ => null,
        };
        if (type is not null) await events.PublishAsync(connection, tx, type, organizationId, view!, ct);
    }

    public static Task ConsentAsync(IEventPublisher events, DbConnection connection, DbTransaction tx, SmsConsentChange change, CancellationToken ct) =>
        events.PublishAsync(connection, tx, change.OptedOut ? EventTypes.SmsOptedOut : EventTypes.SmsOptedIn, null, change, ct);
}
