namespace Backstop.Features.Bots;

/// <summary>
/// Meetings across organizations for the operator (<c>GET /v1/admin/meetings</c> and the console's meetings page),
/// with why each stuck one is stuck, by the definitions the <c>bot-pipeline-repair</c> sweep acts on.
/// </summary>
public interface IMeetingOverview
{
    /// <summary>Meetings (not deleted), newest first; <paramref name="stuckOnly"/>: only the stuck ones. <paramref name="after"/> is the last id of the previous page.</summary>
    Task<MeetingOverviewPage> ListAsync(bool stuckOnly, string? status, string? organizationId, string? after, int limit, CancellationToken ct);
}

/// <param name="StuckReason">Null, or why the meeting is stuck: <c>active_without_update</c> (joining, in call or recording
/// without an update for an hour), <c>processing_too_long</c> (processing for an hour), <c>recording_missing</c> (done an
/// hour without its audio and no fetch pending), <c>transcribing_too_long</c> (past <c>Deepgram:CallbackTimeoutMinutes</c>
/// with no request pending).</param>
public sealed record MeetingOverview(
    string Id,
    string OrganizationId,
    string Title,
    string Status,
    string? BotId,
    string? BotStatus,
    DateTimeOffset? BotStatusAt,
    string? FailureReason,
    string? TranscriptStatus,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? StuckReason);

/// <param name="NextCursor">The last id of this page when there may be more (pass it as <c>after</c>), else null.</param>
public sealed record MeetingOverviewPage(IReadOnlyList<MeetingOverview> Items, string? NextCursor);
