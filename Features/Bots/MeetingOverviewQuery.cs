using System.Text;
using Backstop.Infrastructure.Providers.Deepgram;

namespace Backstop.Features.Bots;

/// <summary>The stuck-meeting definitions as one SQL expression, and the operator's list of meetings.</summary>
internal sealed class MeetingOverviewQuery(Db db, TimeProvider time, IOptions<DeepgramOptions> deepgram) : IMeetingOverview
{
    public const string ActiveWithoutUpdate = "active_without_update";
    public const string ProcessingTooLong = "processing_too_long";
    public const string RecordingMissing = "recording_missing";
    public const string TranscribingTooLong = "transcribing_too_long";

    /// <summary>An active meeting quiet this long is stuck (Recall sends nothing while a bot records steadily, so it may be alive: the orphaned-bots sweep asks Recall).</summary>
    public static readonly TimeSpan ActiveQuietFor = TimeSpan.FromHours(1);

    /// <summary>
    /// Why a row of <c>meetings</c> is stuck, or null: the repair sweep's conditions (<see cref="BotPipelineRepairJob"/>:
    /// processing for <see cref="BotPipelineRepairJob.StuckAfter"/>; done without audio for as long with no pipeline
    /// message pending; transcribing past the callback timeout with none pending) and an active meeting quiet for an hour.
    /// </summary>
    private static readonly string Reason =
        $"""
        case
            when status in ('joining', 'in_call', 'recording') and updated_at < @activeCutoff then '{ActiveWithoutUpdate}'
            when status = 'processing' and updated_at < @stuckCutoff then '{ProcessingTooLong}'
            when status = 'done' and audio_key is null and updated_at < @stuckCutoff{BotPipelineRepairJob.NoPipelineMessage} then '{RecordingMissing}'
            when status = 'transcribing' and updated_at < @transcribingCutoff{BotPipelineRepairJob.NoPipelineMessage} then '{TranscribingTooLong}'
        end
        """;

    public async Task<MeetingOverviewPage> ListAsync(bool stuckOnly, string? status, string? organizationId, string? after, int limit, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var p = new DynamicParameters();
        p.Add("activeCutoff", now - ActiveQuietFor);
        p.Add("stuckCutoff", now - BotPipelineRepairJob.StuckAfter);
        p.Add("transcribingCutoff", now - TimeSpan.FromMinutes(deepgram.Value.CallbackTimeoutMinutes));
        p.Add("take", limit + 1);
        var where = new StringBuilder("deleted_at is null");
        if (stuckOnly) where.Append($" and ({Reason}) is not null");
        if (status is not null) { where.Append(" and status = @status"); p.Add("status", status); }
        if (organizationId is not null) { where.Append(" and organization_id = @organizationId"); p.Add("organizationId", organizationId); }
        if (after is not null) { where.Append(" and id < @after"); p.Add("after", after); }
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<Row>(new CommandDefinition(
            $"""
            select id, organization_id, title, status, bot_id, bot_status, bot_status_at, failure_reason, transcript_status, created_at, updated_at,
                   {Reason} as stuck_reason
            from meetings
            where {where}
            order by id desc
            limit @take
            """, p, cancellationToken: ct))).ToList();
        var items = rows.Take(limit).Select(r => new MeetingOverview(r.Id, r.OrganizationId, r.Title, r.Status, r.BotId, r.BotStatus, r.BotStatusAt,
            r.FailureReason, r.TranscriptStatus, r.CreatedAt, r.UpdatedAt, r.StuckReason)).ToList();
        return new MeetingOverviewPage(items, rows.Count > limit ? items[^1].Id : null);
    }

    private sealed record Row
    {
        public string Id { get; init; } = "";
        public string OrganizationId { get; init; } = "";
        public string Title { get; init; } = "";
        public string Status { get; init; } = "";
        public string? BotId { get; init; }
        public string? BotStatus { get; init; }
        public DateTimeOffset? BotStatusAt { get; init; }
        public string? FailureReason { get; init; }
        public string? TranscriptStatus { get; init; }
        public DateTimeOffset CreatedAt { get; init; }
        public DateTimeOffset UpdatedAt { get; init; }
        public string? StuckReason { get; init; }
    }
}
