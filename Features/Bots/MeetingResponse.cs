namespace Backstop.Features.Bots;

internal sealed record BotStatusChange(string Code, string? SubCode, DateTimeOffset UpdatedAt);

internal sealed record AudioInfo(long Size, string ContentType);

/// <summary>A meeting as every endpoint of the slice answers it.</summary>
internal sealed record MeetingResponse(
    string Id,
    string Title,
    string MeetingUrl,
    string? ExternalUserId,
    DateTimeOffset? JoinAt,
    string Status,
    string? BotId,
    string? BotStatus,
    string? BotSubCode,
    IReadOnlyList<BotStatusChange> StatusHistory,
    string? TranscriptStatus,
    string? FailureReason,
    AudioInfo? Audio,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static MeetingResponse From(MeetingRow m, IReadOnlyList<BotEventRow> history) => new(
        m.Id, m.Title, m.MeetingUrl, m.ExternalUserId, m.JoinAt, m.Status, m.BotId, m.BotStatus, m.BotSubCode,
        history.Select(h => new BotStatusChange(h.Code, h.SubCode, h.OccurredAt)).ToList(),
        m.TranscriptStatus, m.FailureReason,
        m.AudioKey is not null && m.AudioSize is { } size ? new AudioInfo(size, m.AudioContentType ?? "application/octet-stream") : null,
        m.CreatedAt, m.UpdatedAt);
}
