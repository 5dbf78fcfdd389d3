using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Features.Bots;

/// <summary>A meeting whose bot may be orphaned: active, and nothing updated it for a while (or it ran past the recording limit).</summary>
public sealed record OrphanCandidate(string Id, string? BotId, DateTimeOffset CreatedAt, DateTimeOffset? JoinAt, DateTimeOffset? StopRequestedAt, DateTimeOffset UpdatedAt);

/// <summary>A meeting <see cref="IMeetingSweeps.FailOrphanedAsync"/> failed (<c>bot_timeout</c>).</summary>
public sealed record OrphanedMeeting(string Id, string OrganizationId, string Title, string? ExternalUserId, string? BotId);

/// <summary>The audio file of a soft-deleted meeting.</summary>
public sealed record StoredAudio(string Id, string AudioKey, long? AudioSize, string OrganizationId);

/// <summary>
/// What the Cleanup slice's sweeps may do to Bots' tables (<c>meetings</c>, <c>transcripts</c>). Cleanup keeps its
/// sweeps (when, how many, what to tell whom); Bots owns the statements. The set-based ones run on the caller's
/// connection and transaction, like the other slice interfaces, so a sweep's other writes (its outbox messages, its
/// totals) commit with them; each is conditional on exactly the state it changes, so a Bots write that comes first
/// makes the row drop out and one that comes after sees the sweep's result (docs/cleanup.md lists them).
/// <see cref="ApplyBotStatusAsync"/> is one transaction of its own, conditional on the meeting still owning that bot
/// and being active.
/// </summary>
public interface IMeetingSweeps
{
    /// <summary>
    /// A page (by id, after <paramref name="after"/>) of meetings whose bot is active and that nothing updated since
    /// <paramref name="cutoff"/>, counted from <c>max(updated_at, join_at)</c> (a bot scheduled hours ahead is not late),
    /// or whose bot, not yet sent away, joined before <paramref name="maxCutoff"/> (<c>Cleanup:MaxRecordingHours</c>).
    /// </summary>
    Task<IReadOnlyList<OrphanCandidate>> FindOrphanCandidatesAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff, DateTimeOffset maxCutoff,
        string after, int batchSize, CancellationToken ct);

    /// <summary>
    /// Fails, on the caller's transaction, those of <paramref name="ids"/> that are still active and still not updated
    /// since <paramref name="cutoff"/> (<c>bot_timeout</c>, with <c>failure_details</c>): a webhook (or a stop) that moved
    /// one in the meantime changed its status or <c>updated_at</c>, so it is left alone; one that comes afterwards finds
    /// <c>failed</c>, which no later bot status outranks. The open start claim, if any, is dropped: the start that held
    /// it for hours is dead, and when it records its bot after all it sees the claim gone and sends the bot away.
    /// Answers the failed rows.
    /// </summary>
    Task<IReadOnlyList<OrphanedMeeting>> FailOrphanedAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<string> ids, DateTimeOffset now,
        DateTimeOffset cutoff, CancellationToken ct);

    /// <summary>A page (by id, after <paramref name="after"/>) of meetings soft-deleted before <paramref name="cutoff"/> that still have an audio file.</summary>
    Task<IReadOnlyList<StoredAudio>> FindExpiredAudioAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff, string after, int batchSize,
        CancellationToken ct);

    /// <summary>Clears, on the caller's transaction, the audio columns of those of <paramref name="ids"/> whose file is gone; answers the ids it cleared.</summary>
    Task<IReadOnlyList<string>> ClearAudioAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<string> ids, DateTimeOffset now, DateTimeOffset cutoff,
        CancellationToken ct);

    /// <summary>
    /// Deletes a batch (at most <paramref name="batchSize"/>) of the transcripts of meetings soft-deleted before
    /// <paramref name="cutoff"/> (their text is the customer's data and goes with the audio); the meeting row itself
    /// stays, deleted. Answers how many it deleted.
    /// </summary>
    Task<int> DeleteExpiredTranscriptsAsync(DbConnection connection, DbTransaction? tx, DateTimeOffset cutoff, int batchSize, CancellationToken ct);

    /// <summary>
    /// Applies <paramref name="code"/> (from <c>GET /api/v1/bot/{id}/</c>) to the active meeting that owns
    /// <paramref name="botId"/>: its status moves forward only (<c>call_ended</c> → processing, <c>done</c> → done and
    /// the recording fetched, <c>fatal</c> → failed), <c>updated_at</c> is touched so it is checked again only after
    /// another quiet period. With <paramref name="sendAway"/> a live bot is also sent away (once), and the meeting keeps
    /// whatever it recorded. Answers the meeting's status afterwards, or null when it no longer owns the bot or is not active.
    /// </summary>
    Task<string?> ApplyBotStatusAsync(string meetingId, string botId, string code, bool sendAway, CancellationToken ct);

    /// <summary>
    /// In the caller's transaction, right after it failed these meetings in one statement: one <c>meeting.failed</c>
    /// per meeting, with the meeting as the API shows it (its reason included), published as one batch — a constant
    /// number of statements whatever the number of meetings (<see cref="MeetingEvents.PublishManyAsync"/>).
    /// </summary>
    Task PublishFailedAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<string> meetingIds, CancellationToken ct);
}
