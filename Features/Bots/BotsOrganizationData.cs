using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Features.Bots;

/// <summary>
/// An organization's meetings at its deletion, in the deletion's transaction: every active bot is sent away through
/// the outbox as <c>DELETE /v1/meetings/{id}</c> does (the <c>stop</c> message, keyed by this cause: <c>DELETE</c>
/// for a scheduled bot, <c>leave_call</c> once dispatched), and every meeting is soft-deleted (an active one ends
/// <c>cancelled</c>). A start in flight sees the deletion when it records its bot and sends that bot away itself.
/// The Cleanup slice's storage sweep then removes the audio files and transcripts after <c>Cleanup:StorageRetentionDays</c>,
/// as for any deleted meeting. The report counts what is left: live meetings, audio files, transcripts, and bots
/// whose stop message has not gone out yet.
/// </summary>
internal sealed class BotsOrganizationData(Db db, IOutbox outbox, IAuditLog audit, TimeProvider time, ILogger<BotsOrganizationData> log)
    : IOrganizationDeletionListener, IOrganizationDataReport
{
    public async Task OnDeletingAsync(DbConnection connection, DbTransaction transaction, string organizationId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var stopped = (await connection.QueryAsync<(string Id, string BotId)>(new CommandDefinition(
            """
            update meetings set status = 'cancelled', stop_requested_at = coalesce(stop_requested_at, @now), updated_at = @now
            where organization_id = @organizationId and deleted_at is null
              and status in ('joining', 'in_call', 'recording') and bot_id is not null
            returning id, bot_id
            """, new { organizationId, now }, transaction, cancellationToken: ct))).AsList();
        foreach (var (meetingId, botId) in stopped)
            await outbox.EnqueueAsync(connection, transaction, OutboxRecall.Stop(botId, meetingId, "organization-deleted:" + meetingId), ct);
        var deleted = await connection.ExecuteAsync(new CommandDefinition(
            """
            update meetings
            set deleted_at = @now, updated_at = @now,
                status = case when status in ('joining', 'in_call', 'recording') then 'cancelled' else status end
            where organization_id = @organizationId and deleted_at is null
            """, new { organizationId, now }, transaction, cancellationToken: ct));
        if (deleted == 0) return;
        await audit.RecordAsync(connection, transaction, new AuditEntry(AuditActions.MeetingDelete, "organization", organizationId, organizationId,
            new { reason = "organization_deleted", meetings = deleted, botsStopped = stopped.Select(s => s.BotId).ToList() }), ct);
        log.LogInformation("Deleted organization {OrganizationId}: {Meetings} meetings deleted, {Bots} bots sent away", organizationId, deleted, stopped.Count);
    }

    public async Task<IReadOnlyDictionary<string, long>> RemainingAsync(string organizationId, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var counts = await connection.QuerySingleAsync<(long Meetings, long Audio, long Transcripts, long Bots)>(new CommandDefinition(
            """
            select (select count(*) from meetings where organization_id = @organizationId and deleted_at is null),
                   (select count(*) from meetings where organization_id = @organizationId and audio_key is not null),
                   (select count(*) from transcripts t join meetings m on m.id = t.meeting_id where m.organization_id = @organizationId),
                   (select count(*) from outbox_messages o join meetings m on m.id = o.reference
                    where m.organization_id = @organizationId and o.channel = @channel and o.status in ('pending', 'sending'))
            """, new { organizationId, channel = OutboxRecall.Channel }, cancellationToken: ct));
        return new Dictionary<string, long>
        {
            ["meetings"] = counts.Meetings,
            ["audio_files"] = counts.Audio,
            ["transcripts"] = counts.Transcripts,
            ["active_bots"] = counts.Bots,
        };
    }
}
