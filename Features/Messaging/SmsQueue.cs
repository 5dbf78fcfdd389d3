using System.Data.Common;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Sms;
using Backstop.Infrastructure.Providers.Twilio;
using Backstop.Infrastructure.Security;
using Dapper;
using Microsoft.Extensions.Options;

namespace Backstop.Features.Messaging;

internal static class SmsStatus
{
    public const string Queued = "queued";
    public const string Sent = "sent";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}

/// <summary>
/// The one way an SMS leaves this service: refuses organizations with SMS disabled and opted-out recipients, then
/// writes the <c>sms_messages</c> row and its outbox message in the caller's transaction.
/// </summary>
internal sealed class SmsQueue(IOutbox outbox, IOptions<TwilioOptions> twilio, TimeProvider time)
{
    public void EnsureConfigured()
    {
        if (!twilio.Value.CanSend)
            throw new ProblemException(503, "sms_not_configured",
                "SMS is not configured on this service (Twilio:AccountSid, Twilio:AuthToken and Twilio:From or Twilio:MessagingServiceSid).");
    }

    /// <param name="storedBody">What <c>sms_messages</c> keeps of the body (null for one-time codes, which must not be kept in clear).</param>
    /// <param name="sensitive">The body is a secret: the outbox erases it once the message is finished.</param>
    public async Task<string> QueueAsync(DbConnection connection, DbTransaction tx, string organizationId, string to, string body,
        string kind, string? storedBody, bool sensitive, CancellationToken ct)
    {
        var enabled = await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            "select sms_enabled from organization_sms_settings where organization_id = @organizationId",
            new { organizationId }, tx, cancellationToken: ct));
        if (enabled == false)
            throw new ProblemException(403, "sms_disabled", "SMS is disabled for this organization.");

        var optedOut = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select phone_number from sms_opt_outs where phone_number = @to", new { to }, tx, cancellationToken: ct));
        if (optedOut is not null)
            throw new ProblemException(403, "recipient_opted_out", "The recipient has opted out of SMS from this service (they can reply START to opt back in).");

        var id = Ids.New(time);
        var now = time.GetUtcNow();
        var queued = await outbox.EnqueueAsync(connection, tx, OutboxSms.Create($"sms:{id}", to, body, reference: id, sensitive: sensitive), ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into sms_messages (id, organization_id, kind, to_number, body, status, outbox_message_id, created_at, updated_at)
            values (@id, @organizationId, @kind, @to, @storedBody, 'queued', @outboxId, @now, @now)
            """, new { id, organizationId, kind, to, storedBody, outboxId = queued.Id, now }, tx, cancellationToken: ct));
        return id;
    }
}
