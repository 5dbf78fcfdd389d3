using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Features.Bots;

internal sealed class MeetingSweeps(Db db, IOutbox outbox, MeetingEvents events, TimeProvider time, ILogger<MeetingSweeps> log) : IMeetingSweeps
{
    public async Task<IReadOnlyList<OrphanCandidate>> FindOrphanCandidatesAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff,
        DateTimeOffset maxCutoff, string after, int batchSize, CancellationToken ct) =>
        (await connection.QueryAsync<OrphanCandidate>(new CommandDefinition(
            """
            select id, bot_id, created_at, join_at, stop_requested_at, updated_at from meetings
            where status in ('joining', 'in_call', 'recording') and id > @after
              and ((updated_at < @cutoff and (join_at is null or join_at < @cutoff))
                   or (stop_requested_at is null and bot_id is not null and coalesce(join_at, created_at) < @maxCutoff))
            order by id
            limit @batchSize
            """, new { cutoff, maxCutoff, after, batchSize }, tx, cancellationToken: ct))).AsList();

    public async Task<IReadOnlyList<OrphanedMeeting>> FailOrphanedAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<string> ids, DateTimeOffset now,
        DateTimeOffset cutoff, CancellationToken ct) =>
        (await connection.QueryAsync<OrphanedMeeting>(new CommandDefinition(
            $"""
            update meetings
            set status = 'failed', failure_reason = 'bot_timeout', failure_details = {FailureDetails(db.Dialect)},
                bot_claim = null, updated_at = @now
            where {db.Dialect.AnyOf("id", "ids")} and status in ('joining', 'in_call', 'recording') and updated_at < @cutoff
              and (join_at is null or join_at < @cutoff)
            returning id, organization_id, title, external_user_id, bot_id
            """,
            new { ids = ids.ToArray(), now, cutoff, cleanedUpAt = now.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture) },
            tx, cancellationToken: ct))).AsList();

    // {failureReason, cleanedUpAt, originalBotId}, built by the database so the bot id needs no quoting by us.
    private static string FailureDetails(Dialect dialect) => dialect == Dialect.Postgres
        ? "json_build_object('failureReason', 'bot_timeout', 'cleanedUpAt', cast(@cleanedUpAt as text), 'originalBotId', bot_id)::text"
        : "json_object('failureReason', 'bot_timeout', 'cleanedUpAt', @cleanedUpAt, 'originalBotId', bot_id)";

    public async Task<IReadOnlyList<StoredAudio>> FindExpiredAudioAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff, string after,
        int batchSize, CancellationToken ct) =>
        (await connection.QueryAsync<StoredAudio>(new CommandDefinition(
            """
            select id, audio_key, audio_size, organization_id from meetings
            where deleted_at is not null and audio_key is not null and deleted_at < @cutoff and id > @after
            order by id
            limit @batchSize
            """, new { cutoff, after, batchSize }, tx, cancellationToken: ct))).AsList();

    public async Task<IReadOnlyList<string>> ClearAudioAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<string> ids, DateTimeOffset now,
        DateTimeOffset cutoff, CancellationToken ct) =>
        ids.Count == 0 ? [] : (await connection.QueryAsync<string>(new CommandDefinition(
            $"""
            update meetings
            set audio_key = null, audio_size = null, audio_content_type = null, updated_at = @now
            where {db.Dialect.AnyOf("id", "ids")} and deleted_at is not null and deleted_at < @cutoff and audio_key is not null
            returning id
            """, new { ids = ids.ToArray(), now, cutoff }, tx, cancellationToken: ct))).AsList();

    public Task<int> DeleteExpiredTranscriptsAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff, int batchSize, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            delete from transcripts
            where id in (select t.id from transcripts t join meetings m on m.id = t.meeting_id
                         where m.deleted_at is not null and m.deleted_at < @cutoff
                         order by t.id limit @batchSize)
            """, new { cutoff, batchSize }, tx, cancellationToken: ct));

    public Task<string?> ApplyBotStatusAsync(string meetingId, string botId, string code, bool sendAway, CancellationToken ct) =>
        db.InTransactionAsync(async (connection, tx) =>
        {
            var lockClause = db.Dialect.ForUpdate();
            var meeting = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"select {Meetings.Columns} from meetings where id = @meetingId and bot_id = @botId and deleted_at is null {lockClause}",
                new { meetingId, botId }, tx, cancellationToken: ct));
            if (meeting is null || !MeetingStatus.IsActive(meeting.Status) || meeting.BotClaim is not null) return null;
            var now = time.GetUtcNow();
            var target = MeetingStatus.FromRecall(code);
            var moves = target is not null && MeetingStatus.Rank(target) > MeetingStatus.Rank(meeting.Status);
            var status = moves ? target! : meeting.Status;
            var stop = sendAway && meeting.StopRequestedAt is null && MeetingStatus.IsActive(status);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings
                set bot_status = @code, status = @status, updated_at = @now,
                    failure_reason = case when @failed then 'fatal' else failure_reason end,
                    transcript_status = case when @done then 'pending' else transcript_status end,
                    stop_requested_at = case when @stop then @now else stop_requested_at end
                where id = @meetingId
                """, new { code, status, now, failed = moves && status == MeetingStatus.Failed, done = moves && status == MeetingStatus.Done, stop, meetingId },
                tx, cancellationToken: ct));
            if (moves && status == MeetingStatus.Done)
                await outbox.EnqueueAsync(connection, tx, RecordingPipeline.FetchRecording(meetingId, botId), ct);
            // As the bot's webhook would have: meeting.failed for fatal, else the bot's move.
            if (moves) await events.PublishAsync(connection, tx, MeetingEvents.ForMove(status), meetingId, ct);
            if (stop)
            {
                await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(botId, meetingId, "max_recording:" + meetingId), ct);
                log.LogWarning("Bot {BotId} of meeting {MeetingId} reached Cleanup:MaxRecordingHours and is sent away; its recording is kept", botId, meetingId);
            }
            return status;
        }, ct);

    public Task PublishFailedAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<string> meetingIds, CancellationToken ct) =>
        meetingIds.Count == 0 ? Task.CompletedTask : events.PublishManyAsync(connection, transaction, EventTypes.MeetingFailed, meetingIds, ct);
}
