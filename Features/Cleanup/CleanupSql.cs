using Backstop.Infrastructure.Data;

namespace Backstop.Features.Cleanup;

internal sealed record OrphanCandidate(string Id, string? BotId, DateTimeOffset CreatedAt, DateTimeOffset? JoinAt, DateTimeOffset? StopRequestedAt, DateTimeOffset UpdatedAt);

internal sealed record OrphanedMeeting(string Id, string OrganizationId, string Title, string? ExternalUserId, string? BotId);

internal sealed record StoredAudio(string Id, string AudioKey, long? AudioSize, string OrganizationId);

/// <summary>
/// The Cleanup slice's statements over <c>meetings</c> (a table of the Bots slice). Cleanup owns them, beside its
/// jobs, rather than calling into Bots: they are set-based batch statements no Bots action runs, and each one is
/// conditional on exactly the state it changes, so a Bots write that comes first makes the row drop out and one that
/// comes after sees the sweep's result (docs/cleanup.md lists them). Status names are the Bots slice's
/// (<c>MeetingStatus</c>), spelled out here because a slice may not reference another slice's types.
/// </summary>
internal static class CleanupSql
{
    /// <summary>
    /// A page (by id, after <c>@after</c>) of meetings whose bot is active and that nothing updated since <c>@cutoff</c>,
    /// counted from <c>max(updated_at, join_at)</c> (a bot scheduled hours ahead is not late), or whose bot, not yet
    /// sent away, joined before <c>@maxCutoff</c> (<c>Cleanup:MaxRecordingHours</c>).
    /// </summary>
    public const string OrphanedPage =
        """
        select id, bot_id, created_at, join_at, stop_requested_at, updated_at from meetings
        where status in ('joining', 'in_call', 'recording') and id > @after
          and ((updated_at < @cutoff and (join_at is null or join_at < @cutoff))
               or (stop_requested_at is null and bot_id is not null and coalesce(join_at, created_at) < @maxCutoff))
        order by id
        limit @batchSize
        """;

    /// <summary>
    /// Fails the page's meetings that are still active and still not updated: a webhook (or a stop) that moved one
    /// in the meantime changed its status or <c>updated_at</c>, so it is left alone; one that comes afterwards finds
    /// <c>failed</c>, which no later bot status outranks. The open start claim, if any, is dropped: the start that
    /// held it for hours is dead, and when it records its bot after all it sees the claim gone and sends the bot away.
    /// </summary>
    public static string FailOrphaned(Dialect dialect) =>
        $"""
        update meetings
        set status = 'failed', failure_reason = 'bot_timeout', failure_details = {FailureDetails(dialect)},
            bot_claim = null, updated_at = @now
        where {dialect.AnyOf("id", "ids")} and status in ('joining', 'in_call', 'recording') and updated_at < @cutoff
          and (join_at is null or join_at < @cutoff)
        returning id, organization_id, title, external_user_id, bot_id
        """;

    // {failureReason, cleanedUpAt, originalBotId}, built by the database so the bot id needs no quoting by us.
    private static string FailureDetails(Dialect dialect) => dialect == Dialect.Postgres
        ? "json_build_object('failureReason', 'bot_timeout', 'cleanedUpAt', cast(@cleanedUpAt as text), 'originalBotId', bot_id)::text"
        : "json_object('failureReason', 'bot_timeout', 'cleanedUpAt', @cleanedUpAt, 'originalBotId', bot_id)";

    /// <summary>A page of meetings soft-deleted before <c>@cutoff</c> that still have an audio file.</summary>
    public const string ExpiredAudioPage =
        """
        select id, audio_key, audio_size, organization_id from meetings
        where deleted_at is not null and audio_key is not null and deleted_at < @cutoff and id > @after
        order by id
        limit @batchSize
        """;

    /// <summary>
    /// Deletes a batch of the transcripts of meetings soft-deleted before <c>@cutoff</c> (their text is the
    /// customer's data and goes with the audio); the meeting row itself stays, deleted.
    /// </summary>
    public const string DeleteExpiredTranscripts =
        """
        delete from transcripts
        where id in (select t.id from transcripts t join meetings m on m.id = t.meeting_id
                     where m.deleted_at is not null and m.deleted_at < @cutoff
                     order by t.id limit @batchSize)
        """;

    /// <summary>Clears the audio columns of the meetings whose file is gone; answers the ids it cleared.</summary>
    public static string ClearAudio(Dialect dialect) =>
        $"""
        update meetings
        set audio_key = null, audio_size = null, audio_content_type = null, updated_at = @now
        where {dialect.AnyOf("id", "ids")} and deleted_at is not null and deleted_at < @cutoff and audio_key is not null
        returning id
        """;
}
