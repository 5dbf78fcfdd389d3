using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Recall;
using Dapper;

namespace Backstop.Features.Bots;

/// <summary>
/// What the Cleanup slice's sweeps may do to a meeting beyond their set-based statements: apply the status Recall
/// answered for a meeting's bot, as the bot's webhook would have. Each call is one transaction, conditional on the
/// meeting still owning that bot and being active.
/// </summary>
public interface IMeetingSweeps
{
    /// <summary>
    /// Applies <paramref name="code"/> (from <c>GET /api/v1/bot/{id}/</c>) to the active meeting that owns
    /// <paramref name="botId"/>: its status moves forward only (<c>call_ended</c> → processing, <c>done</c> → done and
    /// the recording fetched, <c>fatal</c> → failed), <c>updated_at</c> is touched so it is checked again only after
    /// another quiet period. With <paramref name="sendAway"/> a live bot is also sent away (once), and the meeting keeps
    /// whatever it recorded. Answers the meeting's status afterwards, or null when it no longer owns the bot or is not active.
    /// </summary>
    Task<string?> ApplyBotStatusAsync(string meetingId, string botId, string code, bool sendAway, CancellationToken ct);
}

internal sealed class MeetingSweeps(Db db, IOutbox outbox, TimeProvider time, ILogger<MeetingSweeps> log) : IMeetingSweeps
{
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
            if (stop)
            {
                await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(botId, meetingId, "max_recording:" + meetingId), ct);
                log.LogWarning("Bot {BotId} of meeting {MeetingId} reached Cleanup:MaxRecordingHours and is sent away; its recording is kept", botId, meetingId);
            }
            return status;
        }, ct);
}
