using System.Net;
using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Providers.Deepgram;

namespace Backstop.Features.Bots;

internal sealed record TranscriptionRow(string Id, string MeetingId, string BotId, string? RequestId, string Status);

internal sealed record TranscriptWord(string Word, string? PunctuatedWord, double Start, double End, double? Confidence, int? Speaker);

/// <summary>
/// Deepgram's callback, in the inbox's transaction (the inbox has checked its per-request token): the transcript
/// (text, words, duration, request id), the meeting's move to <c>transcribed</c> and the email that says so are
/// written together, so a failure anywhere leaves none of them. A second callback of the same transcription adds
/// nothing (one transcript per recorded bot). A body without <c>results</c> is <c>transcription_failed</c>.
/// </summary>
internal sealed class DeepgramCallbackHandler(Db db, IOutbox outbox, IOrganizationDirectory directory, MeetingEvents events, TimeProvider time, ILogger<DeepgramCallbackHandler> log)
    : IWebhookHandler
{
    public string Provider => "deepgram";

    public bool Handles(string eventType) => eventType is "transcription.completed" or "transcription.failed";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        using var document = JsonDocument.Parse(webhook.Payload);
        var root = document.RootElement;
        var metadata = root.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
        var requestId = Str(metadata, "request_id") ?? Str(root, "request_id") ?? webhook.EventId;
        // The transcription is the one the callback's token names (the inbox wrote it into the stored event; the body
        // cannot choose another). Only the static Deepgram:CallbackToken binds none: then Deepgram's request id decides.
        var transcriptionId = Str(root, DeepgramCallback.BoundTranscriptionProperty);

        var lockClause = db.Dialect.ForUpdate();
        var transcription = await connection.QuerySingleOrDefaultAsync<TranscriptionRow>(new CommandDefinition(
            transcriptionId is not null
                ? $"select id, meeting_id, bot_id, request_id, status from transcriptions where id = @transcriptionId {lockClause}"
                : $"select id, meeting_id, bot_id, request_id, status from transcriptions where request_id = @requestId {lockClause}",
            new { transcriptionId, requestId }, tx, cancellationToken: ct));
        if (transcription is null)
        {
            log.LogWarning("Deepgram callback {RequestId} matches no transcription of ours; stored, nothing done", requestId);
            return;
        }

        if (transcription.Status == "completed")
        {
            // A token is spent once its transcription completed: a repeated or late callback changes nothing.
            log.LogInformation("Deepgram callback {RequestId} for completed transcription {TranscriptionId} acknowledged, nothing changed", requestId, transcription.Id);
            return;
        }

        var now = time.GetUtcNow();
        var hasResults = root.TryGetProperty("results", out var results) && results.ValueKind == JsonValueKind.Object;
        if (webhook.EventType == "transcription.failed" || !hasResults)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "update transcriptions set status = 'failed', request_id = coalesce(request_id, @requestId), error = @error, updated_at = @now where id = @Id and status <> 'completed'",
                new { transcription.Id, requestId, error = Truncate(webhook.Payload), now }, tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings set status = 'transcription_failed', transcript_status = 'failed', updated_at = @now
                where id = @MeetingId and bot_id = @BotId and status = 'transcribing'
                """, new { transcription.MeetingId, transcription.BotId, now }, tx, cancellationToken: ct));
            return;
        }

        var (text, words) = Read(root);
        var duration = metadata.ValueKind == JsonValueKind.Object && metadata.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetDouble() : (double?)null;
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into transcripts (id, meeting_id, bot_id, transcription_id, request_id, text, words, duration_seconds, created_at, updated_at)
            values (@id, @MeetingId, @BotId, @transcriptionId, @requestId, @text, @words, @duration, @now, @now)
            on conflict (meeting_id, bot_id) do update
                set transcription_id = excluded.transcription_id, request_id = excluded.request_id, text = excluded.text, words = excluded.words,
                    duration_seconds = excluded.duration_seconds, updated_at = excluded.updated_at
            """,
            new
            {
                id = Ids.New(time), transcription.MeetingId, transcription.BotId, transcriptionId = transcription.Id, requestId, text,
                words = JsonSerializer.Serialize(words, OutboxJson.Options), duration, now,
            }, tx, cancellationToken: ct));
        // A transcription requested again (repair, POST …/transcript) replaces the bot's transcript; a repeated callback
        // of a completed transcription never gets here (the status check above, under the row's lock).
        if (inserted == 0) return;

        await connection.ExecuteAsync(new CommandDefinition(
            "update transcriptions set status = 'completed', request_id = coalesce(request_id, @requestId), updated_at = @now where id = @Id",
            new { transcription.Id, requestId, now }, tx, cancellationToken: ct));
        var meeting = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
            $"""
            update meetings set status = case when status = 'transcribing' then 'transcribed' else status end,
                                transcript_status = 'transcribed', updated_at = @now
            where id = @MeetingId and bot_id = @BotId
            returning {Meetings.Columns}
            """, new { transcription.MeetingId, transcription.BotId, now }, tx, cancellationToken: ct));
        if (meeting is null || meeting.DeletedAt is not null) return;
        await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingTranscribed, meeting.Id, ct);

        foreach (var email in await directory.NotificationEmailsAsync(connection, tx, meeting.OrganizationId, meeting.ExternalUserId, ct))
            await outbox.EnqueueAsync(connection, tx, OutboxEmail.Create($"bots:transcribed:{transcription.Id}:{email.ToLowerInvariant()}", email, Ready(meeting), meeting.Id), ct);
        log.LogInformation("Meeting {MeetingId} transcribed ({Words} words)", meeting.Id, words.Count);
    }

    private static (string Text, List<TranscriptWord> Words) Read(JsonElement root)
    {
        var texts = new List<string>();
        var words = new List<TranscriptWord>();
        if (root.TryGetProperty("results", out var results) && results.ValueKind == JsonValueKind.Object &&
            results.TryGetProperty("channels", out var channels) && channels.ValueKind == JsonValueKind.Array)
        {
            foreach (var channel in channels.EnumerateArray())
            {
                if (!channel.TryGetProperty("alternatives", out var alternatives) || alternatives.ValueKind != JsonValueKind.Array || alternatives.GetArrayLength() == 0) continue;
                var best = alternatives[0];
                if (Str(best, "transcript") is { } t) texts.Add(t);
                if (best.TryGetProperty("words", out var ws) && ws.ValueKind == JsonValueKind.Array)
                    foreach (var w in ws.EnumerateArray())
                        if (Str(w, "word") is { } word)
                            words.Add(new TranscriptWord(word, Str(w, "punctuated_word"), Num(w, "start") ?? 0, Num(w, "end") ?? 0, Num(w, "confidence"),
                                w.TryGetProperty("speaker", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt32() : null));
            }
        }
        return (string.Join("\n", texts), words);
    }

    private static EmailContent Ready(MeetingRow meeting)
    {
        var subject = $"Your transcript of \"{meeting.Title}\" is ready";
        var text = $"The recording of \"{meeting.Title}\" has been transcribed. Fetch it with GET /v1/meetings/{meeting.Id}/transcript.";
        var html = $"<p>The recording of <strong>{WebUtility.HtmlEncode(meeting.Title)}</strong> has been transcribed.</p>" +
                   $"<p>Fetch it with <code>GET /v1/meetings/{WebUtility.HtmlEncode(meeting.Id)}/transcript</code>.</p>";
        return new EmailContent(subject, text, html);
    }

    private static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static double? Num(JsonElement element, string name) =>
        element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string Truncate(string s) => s.Length > 2000 ? s[..2000] : s;
}
