namespace Backstop.Features.Bots;

/// <summary>A row of <c>meetings</c>.</summary>
internal sealed record MeetingRow
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string Title { get; init; } = "";
    public string MeetingUrl { get; init; } = "";
    public string NormalizedUrl { get; init; } = "";
    public string? ExternalUserId { get; init; }
    public DateTimeOffset? JoinAt { get; init; }
    public string Status { get; init; } = "";
    public string? BotId { get; init; }
    public string? BotClaim { get; init; }
    public string? BotPreviousStatus { get; init; }
    public string? BotStatus { get; init; }
    public string? BotSubCode { get; init; }
    public DateTimeOffset? BotStatusAt { get; init; }
    public DateTimeOffset? StopRequestedAt { get; init; }
    public string? FailureReason { get; init; }
    /// <summary>JSON about how the meeting failed (written by Cleanup's orphan sweep: <c>{failureReason, cleanedUpAt, originalBotId}</c>).</summary>
    public string? FailureDetails { get; init; }
    public string? TranscriptStatus { get; init; }
    public string? AudioKey { get; init; }
    public long? AudioSize { get; init; }
    public string? AudioContentType { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? DeletedAt { get; init; }
}

internal sealed record BotEventRow(string MeetingId, string BotId, string Code, string? SubCode, DateTimeOffset OccurredAt);

/// <summary>The SQL of the Bots slice over <c>meetings</c> and <c>meeting_bot_events</c> that more than one action runs.</summary>
internal sealed class Meetings(Db db)
{
    public const string Columns =
        """
        id, organization_id, title, meeting_url, normalized_url, external_user_id, join_at, status, bot_id, bot_claim,
        bot_previous_status, bot_status, bot_sub_code, bot_status_at, stop_requested_at, failure_reason, failure_details, transcript_status,
        audio_key, audio_size, audio_content_type, created_at, updated_at, deleted_at
        """;

    /// <summary>The organization's meeting, deleted or not; another tenant's id finds nothing.</summary>
    public async Task<MeetingRow?> FindAsync(string organizationId, string id, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return await FindAsync(connection, null, organizationId, id, ct);
    }

    public static Task<MeetingRow?> FindAsync(DbConnection connection, DbTransaction? tx, string organizationId, string id, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
            $"select {Columns} from meetings where id = @id and organization_id = @organizationId",
            new { id, organizationId }, tx, cancellationToken: ct));

    /// <summary>A live (not deleted) meeting of the organization, or 404.</summary>
    public async Task<MeetingRow> GetAsync(string organizationId, string id, CancellationToken ct) =>
        await FindAsync(organizationId, id, ct) is { DeletedAt: null } row ? row : throw BotProblems.MeetingNotFound();

    /// <summary>The meeting of the organization whose bot is active on this URL, if any (for the 409's pointer).</summary>
    public static Task<string?> ActiveOnUrlAsync(DbConnection connection, string organizationId, string normalizedUrl, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            select id from meetings
            where organization_id = @organizationId and normalized_url = @normalizedUrl and deleted_at is null
              and status in ('joining', 'in_call', 'recording')
            """, new { organizationId, normalizedUrl }, cancellationToken: ct));

    public async Task<IReadOnlyDictionary<string, IReadOnlyList<BotEventRow>>> HistoryAsync(IReadOnlyList<MeetingRow> meetings, CancellationToken ct)
    {
        // Only the current bot's history: a meeting recorded again starts a new history.
        var bots = meetings.Where(m => m.BotId is not null).Select(m => m.BotId!).ToList();
        if (bots.Count == 0) return new Dictionary<string, IReadOnlyList<BotEventRow>>();
        await using var connection = await db.OpenAsync(ct);
        // Npgsql binds a list as one array parameter (Dapper does not expand it there); SQLite needs the expansion.
        var botIn = db.Dialect.AnyOf("bot_id", "bots");
        var rows = await connection.QueryAsync<BotEventRow>(new CommandDefinition(
            $"""
            select meeting_id, bot_id, code, sub_code, occurred_at from meeting_bot_events
            where {botIn}
            order by occurred_at, code
            """, new { bots = bots.ToArray() }, cancellationToken: ct));
        return rows.GroupBy(r => r.BotId).ToDictionary(g => g.Key, g => (IReadOnlyList<BotEventRow>)g.ToList());
    }

    public async Task<IReadOnlyList<BotEventRow>> HistoryAsync(MeetingRow meeting, CancellationToken ct) =>
        (await HistoryAsync([meeting], ct)).TryGetValue(meeting.BotId ?? "", out var events) ? events : [];
}
