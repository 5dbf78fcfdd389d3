using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record TranscriptResponse(string MeetingId, string BotId, string RequestId, string Text, IReadOnlyList<TranscriptWordResponse> Words, double? DurationSeconds, DateTimeOffset CreatedAt);

internal sealed record TranscriptWordResponse(string Word, string? PunctuatedWord, double Start, double End, double? Confidence, int? Speaker);

/// <summary><c>GET /v1/meetings/{id}/transcript</c>: the transcript of the meeting's latest transcribed recording.</summary>
internal sealed class GetTranscript(Db db, Meetings meetings) : Endpoint<MeetingIdRequest, TranscriptResponse>
{
    private sealed record Row(string MeetingId, string BotId, string RequestId, string Text, string Words, double? DurationSeconds, DateTimeOffset CreatedAt);

    public override void Configure()
    {
        Get("/v1/meetings/{id}/transcript");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "Get the meeting's transcript (text, words with times and speakers, duration).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var meeting = await meetings.GetAsync(User.OrganizationId(), req.Id, ct);
        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            """
            select meeting_id, bot_id, request_id, text, words, duration_seconds, created_at from transcripts
            where meeting_id = @Id order by id desc limit 1
            """, new { meeting.Id }, cancellationToken: ct))
            ?? throw new ProblemException(404, "transcript_not_found", "This meeting has no transcript (yet).");
        var words = JsonSerializer.Deserialize<List<TranscriptWordResponse>>(row.Words, OutboxJson.Options) ?? [];
        await Send.OkAsync(new TranscriptResponse(row.MeetingId, row.BotId, row.RequestId, row.Text, words, row.DurationSeconds, row.CreatedAt), ct);
    }
}
