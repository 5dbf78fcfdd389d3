using Backstop.Features.Quota;
using Backstop.Infrastructure.Outbox.Sms;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Features.Messaging;

/// <summary>
/// The one way an SMS leaves this service: refuses destinations the operator does not pay for, organizations with
/// SMS disabled, opted-out recipients and organizations over their send rate, counts the message's segments against
/// the organization's <c>sms_segments</c> quota, then writes the <c>sms_messages</c> row and its outbox message in
/// the caller's transaction (a refusal rolls all of it back).
/// </summary>
internal sealed class SmsQueue(IOutbox outbox, IOptions<TwilioOptions> twilio, IOptions<MessagingOptions> options, SmsDestinations destinations,
    SendRateLimits limits, IUsageMeter usage, TimeProvider time)
{
    /// <summary>The built-in Quota metric SMS count towards (seeded by Quota's migration 0711).</summary>
    public const string SegmentsMetric = "sms_segments";

    /// <summary>The organization's <c>sms_segments</c> limit and period, read before the caller's transaction (a plan that does not name the metric leaves SMS unlimited, still counted).</summary>
    public Task<UsageScope> PrepareAsync(string organizationId, CancellationToken ct) =>
        usage.PrepareAsync(organizationId, SegmentsMetric, requireLimit: false, ct);

    public void EnsureConfigured()
    {
        if (!twilio.Value.CanSend)
            throw new ProblemException(503, "sms_not_configured",
                "SMS is not configured on this service (Twilio:AccountSid, Twilio:AuthToken and Twilio:From or Twilio:MessagingServiceSid).");
    }

    /// <param name="storedBody">What <c>sms_messages</c> keeps of the body (null for one-time codes, which must not be kept in clear).</param>
    /// <param name="sensitive">The body is a secret: the outbox erases it once the message is finished.</param>
    /// <param name="quota">From <see cref="PrepareAsync"/>, for the same organization.</param>
    public async Task<string> QueueAsync(DbConnection connection, DbTransaction tx, UsageScope quota, string to, string body,
        string kind, string? storedBody, bool sensitive, CancellationToken ct)
    {
        var organizationId = quota.OrganizationId;
        destinations.EnsureAllowed(to);
        var enabled = await connection.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            "select sms_enabled from organization_sms_settings where organization_id = @organizationId",
            new { organizationId }, tx, cancellationToken: ct));
        if (enabled == false)
            throw new ProblemException(403, "sms_disabled", "SMS is disabled for this organization.");

        var optedOut = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "select phone_number from sms_opt_outs where phone_number = @to", new { to }, tx, cancellationToken: ct));
        if (optedOut is not null)
            throw new ProblemException(403, "recipient_opted_out", "The recipient has opted out of SMS from this service (they can reply START to opt back in).");

        var perMinute = options.Value.OrganizationRatePerMinute;
        await limits.TakeAsync(connection, tx, $"sms:org:{organizationId}", TimeSpan.FromMinutes(1), perMinute,
            $"This organization can send at most {perMinute} SMS a minute.", ct);

        var id = Ids.New(time);
        await usage.ConsumeAsync(connection, tx, quota, SmsSegments.Count(body), UsageKey(id), ct);
        var now = time.GetUtcNow();
        var queued = await outbox.EnqueueAsync(connection, tx, OutboxSms.Create($"sms:{id}", to, body, reference: id, sensitive: sensitive) with { OrganizationId = organizationId }, ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into sms_messages (id, organization_id, kind, to_number, body, status, outbox_message_id, created_at, updated_at)
            values (@id, @organizationId, @kind, @to, @storedBody, 'queued', @outboxId, @now, @now)
            """, new { id, organizationId, kind, to, storedBody, outboxId = queued.Id, now }, tx, cancellationToken: ct));
        return id;
    }

    public static string UsageKey(string smsId) => "sms:" + smsId;
}
