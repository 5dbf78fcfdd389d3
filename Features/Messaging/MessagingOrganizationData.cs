using Backstop.Features.ApiKeys;

namespace Backstop.Features.Messaging;

/// <summary>
/// An organization's messaging data at its deletion: in the deletion's transaction its pending SMS and emails are
/// cancelled (never sent: a deleted tenant's SMS would still cost the operator), its queued <c>sms_messages</c> end
/// <c>failed</c> with "cancelled: organization deleted", and the deletion is noted so that <c>messaging-cleanup</c>
/// deletes its SMS, one-time-code and SMS-settings (<c>organization_sms_settings</c>) rows after <c>Cleanup:StorageRetentionDays</c>. Opt-outs and the consent audit
/// are the recipients' (per phone number, whatever organization sent), kept as the law asks, and not deleted here.
/// </summary>
internal sealed class MessagingOrganizationData(IOutbox outbox, Db db, TimeProvider time) : IOrganizationDeletionListener, IOrganizationDataReport
{
    public async Task OnDeletingAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await outbox.CancelPendingAsync(connection, transaction, organizationId, "organization deleted", ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update sms_messages set status = 'failed', error = 'cancelled: organization deleted', updated_at = @now
            where organization_id = @organizationId and status = 'queued'
            """, new { organizationId, now }, transaction, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into messaging_organization_erasures (organization_id, deleted_at, created_at) values (@organizationId, @now, @now)
            on conflict (organization_id) do nothing
            """, new { organizationId, now }, transaction, cancellationToken: ct));
    }

    public async Task<IReadOnlyDictionary<string, long>> RemainingAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var counts = await connection.QuerySingleAsync<(long Sms, long Codes, long Settings)>(new CommandDefinition(
            """
            select (select count(*) from sms_messages where organization_id = @organizationId),
                   (select count(*) from otp_codes where organization_id = @organizationId),
                   (select count(*) from organization_sms_settings where organization_id = @organizationId)
            """, new { organizationId }, cancellationToken: ct));
        return new Dictionary<string, long> { ["sms_messages"] = counts.Sms, ["otp_codes"] = counts.Codes, ["organization_sms_settings"] = counts.Settings };
    }
}
