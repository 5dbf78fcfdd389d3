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
    /// <summary>When a sweep failed the meeting (its bot lost), from <c>failure_details</c>; null otherwise.</summary>
    public DateTimeOffset? CleanedUpAt { get; init; }

    /// <summary>The bot the sweep gave up on, from <c>failure_details</c>; null otherwise.</summary>
    public string? OriginalBotId { get; init; }

    public static MeetingResponse From(MeetingRow m, IReadOnlyList<BotEventRow> history)
    {
        var (cleanedUpAt, originalBotId) = Details(m.FailureDetails);
        return Base(m, history) with { CleanedUpAt = cleanedUpAt, OriginalBotId = originalBotId };
    }

    private static (DateTimeOffset? CleanedUpAt, string? OriginalBotId) Details(string? json)
    {
        if (json is null) return (null, null);
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != System.Text.Json.JsonValueKind.Object) return (null, null);
            DateTimeOffset? at = root.TryGetProperty("cleanedUpAt", out var c) && c.ValueKind == System.Text.Json.JsonValueKind.String &&
                DateTimeOffset.TryParse(c.GetString(), System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t) ? t : null;
            var bot = root.TryGetProperty("originalBotId", out var b) && b.ValueKind == System.Text.Json.JsonValueKind.String ? b.GetString() : null;
            return (at, bot);
        }
        catch (System.Text.Json.JsonException)
        {
            return (null, null);
        }
    }

    private static MeetingResponse Base(MeetingRow m, IReadOnlyList<BotEventRow> history) => new(
        m.Id, m.Title, m.MeetingUrl, m.ExternalUserId, m.JoinAt, m.Status, m.BotId, m.BotStatus, m.BotSubCode,
        history.Select(h => new BotStatusChange(h.Code, h.SubCode, h.OccurredAt)).ToList(),
        m.TranscriptStatus, m.FailureReason,
        m.AudioKey is not null && m.AudioSize is { } size ? new AudioInfo(size, m.AudioContentType ?? "application/octet-stream") : null,
        m.CreatedAt, m.UpdatedAt);
}
