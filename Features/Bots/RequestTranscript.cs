using Backstop.Infrastructure.Providers.Deepgram;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>POST /v1/meetings/{id}/transcript</c>: the stored recording is transcribed again (a new Deepgram request with a
/// fresh callback token). Allowed from <c>transcribed</c>, <c>transcription_failed</c> and <c>done</c> with a stored
/// recording; the meeting moves to <c>transcribing</c> by one conditional update, so of concurrent requests one wins.
/// </summary>
internal sealed class RequestTranscript(Db db, Meetings meetings, IOutbox outbox, IOptions<DeepgramOptions> options,
    IConfiguration configuration, IAuditLog audit, TimeProvider time) : Endpoint<MeetingIdRequest, MeetingResponse>
{
    public override void Configure()
    {
        Post("/v1/meetings/{id}/transcript");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Transcribe the meeting's stored recording again (from transcribed, transcription_failed, or done with a recording).");
        Description(d => d.Answers<MeetingResponse>(202).Problems(404, 409, 503));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        var current = await meetings.GetAsync(organizationId, req.Id, ct);
        if (!options.Value.ApiEnabled || configuration["PublicBaseUrl"] is not { Length: > 0 })
            throw new ProblemException(503, "provider_not_configured", "Transcription is not configured on this server (Deepgram:ApiKey and PublicBaseUrl).");
        var moved = await db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"""
                update meetings set status = 'transcribing', transcript_status = 'transcribing', updated_at = @now
                where id = @Id and organization_id = @organizationId and deleted_at is null and bot_claim is null
                  and bot_id is not null and audio_key is not null and status in ('transcribed', 'transcription_failed', 'done')
                returning {Meetings.Columns}
                """, new { now, current.Id, organizationId }, tx, cancellationToken: ct));
            if (row is null) return null;
            var stepId = Ids.New(time);
            await RecordingPipeline.RequestAgainAsync(connection, tx, outbox, options.Value, row.Id, row.BotId!, "request:" + stepId, now, ct);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingTranscribe, "meeting", row.Id, organizationId,
                new { botId = row.BotId, previousStatus = current.Status }), ct);
            return row;
        }, ct);
        if (moved is null)
            throw new ProblemException(409, "transcription_not_allowed",
                $"This meeting cannot be transcribed now (status {current.Status}): it needs a stored recording and no transcription or bot in progress.");
        await Send.ResponseAsync(MeetingResponse.From(moved, await meetings.HistoryAsync(moved, ct)), 202, ct);
    }
}
