using Backstop.Features.Billing;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Providers.Recall;
using Backstop.Infrastructure.Storage;

namespace Backstop.Features.Bots;

/// <summary>What the <c>bots</c> channel stores: one step of the recording pipeline.</summary>
internal sealed record PipelineStep(string Kind, string MeetingId, string BotId, string? TranscriptionId = null, string? AudioUrl = null, string? Token = null);

/// <summary>
/// After <c>bot.done</c>, as outbox messages (each retried on its own, each written in the transaction of the state
/// change that calls for it):
/// <list type="number">
/// <item><c>fetch_recording</c>: retrieve the bot from Recall, copy its recording into our storage, record key and
/// size and, in the same transaction, queue the transcription with a fresh callback token (only its hash is stored);</item>
/// <item><c>request_transcription</c>: ask Deepgram to transcribe Recall's download link, calling back
/// <c>{PublicBaseUrl}/webhooks/deepgram?token=…</c>. The token is in this message's payload only, which is
/// erased once it is sent (a sensitive message).</item>
/// </list>
/// </summary>
internal sealed class RecordingPipeline(
    Db db,
    RecallClient recall,
    RecordingDownloader downloader,
    IFileStore files,
    DeepgramClient deepgram,
    IOutbox outbox,
    IUsageMeter usage,
    IAccessGate gate,
    MeetingEvents events,
    IOptions<DeepgramOptions> deepgramOptions,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<RecordingPipeline> log) : IOutboxChannel
{
    public const string Channel = "bots";
    public const string FetchKind = "fetch_recording";
    public const string TranscribeKind = "request_transcription";

    public string Name => Channel;

    public static OutboxEnvelope FetchRecording(string meetingId, string botId) =>
        OutboxEnvelope.Create(Channel, $"bots:fetch_recording:{botId}", new PipelineStep(FetchKind, meetingId, botId), meetingId);

    /// <summary>
    /// A transcription requested again (by the repair sweep or <c>POST /v1/meetings/{id}/transcript</c>), in the caller's
    /// transaction: the meeting's transcription row gets a fresh callback token (the previous one stops working) and is
    /// queued; the request message is keyed by <paramref name="cause"/>, so every new request is sent.
    /// </summary>
    public static async Task<bool> RequestAgainAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction tx, IOutbox outbox,
        DeepgramOptions options, string meetingId, string botId, string cause, DateTimeOffset now, CancellationToken ct)
    {
        var token = Secrets.RandomToken(32);
        var transcriptionId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            update transcriptions set token_hash = @tokenHash, token_expires_at = @expiresAt, status = 'queued', request_id = null, error = null, updated_at = @now
            where meeting_id = @meetingId and bot_id = @botId
            returning id
            """, new { tokenHash = Secrets.Hash(token), expiresAt = TranscriptionTokens.ExpiryOf(now, options), now, meetingId, botId }, tx, cancellationToken: ct));
        if (transcriptionId is null)
        {
            transcriptionId = Guid.CreateVersion7(now).ToString();
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into transcriptions (id, meeting_id, bot_id, token_hash, token_expires_at, status, created_at, updated_at)
                values (@transcriptionId, @meetingId, @botId, @tokenHash, @expiresAt, 'queued', @now, @now)
                """, new { transcriptionId, meetingId, botId, tokenHash = Secrets.Hash(token), expiresAt = TranscriptionTokens.ExpiryOf(now, options), now },
                tx, cancellationToken: ct));
        }
        await outbox.EnqueueAsync(connection, tx, OutboxEnvelope.Create(Channel, $"bots:transcribe:{botId}:{cause}",
            new PipelineStep(TranscribeKind, meetingId, botId, transcriptionId, null, token), meetingId, sensitive: true), ct);
        return true;
    }

    public static string? CallbackUrl(IConfiguration configuration, string token) =>
        configuration["PublicBaseUrl"] is { Length: > 0 } baseUrl ? baseUrl.Trim().TrimEnd('/') + "/webhooks/deepgram?token=" + Uri.EscapeDataString(token) : null;

    public Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken ct)
    {
        var step = message.PayloadAs<PipelineStep>();
        return step.Kind switch
        {
            FetchKind => FetchAsync(step, ct),
            TranscribeKind => TranscribeAsync(step, ct),
            _ => Task.FromResult(DeliveryResult.Permanent($"Unknown pipeline step '{step.Kind}'.")),
        };
    }

    private async Task<DeliveryResult> FetchAsync(PipelineStep step, CancellationToken ct)
    {
        MeetingRow? meeting;
        await using (var connection = await db.OpenAsync(ct))
            meeting = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"select {Meetings.Columns} from meetings where id = @MeetingId and bot_id = @BotId", step, cancellationToken: ct));
        if (meeting is null || meeting.DeletedAt is not null) return DeliveryResult.Sent();
        if (await StorageRefusedAsync(meeting, step, ct) is { } storageRefused) return storageRefused;

        var bot = await recall.GetBotAsync(step.BotId, ct);
        if (!bot.Ok) return bot.Failure!.Transient ? DeliveryResult.Transient(bot.Failure.Message, bot.Failure.RetryAfter) : DeliveryResult.Permanent(bot.Failure.Message);
        // Recall announces done before every media file is ready; a missing link is worth waiting for.
        if (bot.Value!.AudioDownloadUrl is not { } url) return DeliveryResult.Transient("The bot has no recording download link yet.");

        StoredFile stored;
        try
        {
            var (failedStatus, file) = await downloader.DownloadAsync(url,
                (body, contentType, token) => files.PutAsync(
                    $"meetings/{step.MeetingId}/{step.BotId}.{(contentType.Contains("mp4", StringComparison.OrdinalIgnoreCase) ? "mp4" : "mp3")}", body, contentType, token), ct);
            if (failedStatus is { } status) return DeliveryResult.Transient($"Downloading the recording answered {status}.");
            stored = file!;
        }
        catch (RecordingRefusedException refused)
        {
            // A rule of the careful download was broken: retrying cannot help; the meeting fails with the reason.
            // Recorded even when the delivery is being stopped: the refusal is final either way.
            await FailUnavailableAsync(step, refused.Reason, CancellationToken.None);
            log.LogWarning("Recording of meeting {MeetingId} refused ({Reason}): {Message}", step.MeetingId, refused.Reason, refused.Message);
            return DeliveryResult.Permanent($"recording_unavailable: {refused.Reason}: {refused.Message}");
        }

        var transcribe = deepgram.IsEnabled && configuration["PublicBaseUrl"] is { Length: > 0 };
        if (!transcribe) log.LogWarning("Meeting {MeetingId} is not transcribed: Deepgram:ApiKey or PublicBaseUrl is not set", step.MeetingId);
        var now = time.GetUtcNow();
        // Stored audio counts towards storage_bytes but is never refused: the meeting was already recorded, and
        // refusing to keep it would lose the customer's recording. Over the limit shows in the usage (used > limit).
        var storage = await usage.PrepareAsync(meeting.OrganizationId, "storage_bytes", requireLimit: false, ct);
        // One file per meeting: the previous recording's file goes in the step that records the new key (its
        // storage_bytes given back in the same transaction); a meeting deleted during the copy keeps no file.
        string? previous = null;
        var recorded = await db.InTransactionAsync(async (connection, tx) =>
        {
            var lockClause = db.Dialect.ForUpdate();
            var before = await connection.QuerySingleOrDefaultAsync<(string? AudioKey, string? BotId)>(new CommandDefinition(
                $"select audio_key, bot_id from meetings where id = @MeetingId and deleted_at is null {lockClause}", new { step.MeetingId }, tx, cancellationToken: ct));
            var updated = await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings
                set audio_key = @Key, audio_size = @Size, audio_content_type = @ContentType,
                    status = case when @transcribe and status = 'done' then 'transcribing' else status end,
                    transcript_status = case when @transcribe then 'transcribing' else null end, updated_at = @now
                where id = @MeetingId and bot_id = @BotId and deleted_at is null
                """, new { stored.Key, stored.Size, stored.ContentType, transcribe, now, step.MeetingId, step.BotId }, tx, cancellationToken: ct));
            if (updated == 0) return false;
            if (before.AudioKey is { } old && !string.Equals(old, stored.Key, StringComparison.Ordinal))
            {
                previous = old;
                var oldBot = Path.GetFileNameWithoutExtension(old);
                await usage.UndoAsync(connection, tx, meeting.OrganizationId, "storage_bytes", $"audio:{step.MeetingId}:{oldBot}", ct);
            }
            await usage.RecordAsync(connection, tx, storage, stored.Size, $"audio:{step.MeetingId}:{step.BotId}", ct);
            await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingRecordingReady, step.MeetingId, ct);
            if (!transcribe) return true;

            var token = Secrets.RandomToken(32);
            var transcriptionId = Ids.New(time);
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into transcriptions (id, meeting_id, bot_id, token_hash, token_expires_at, status, created_at, updated_at)
                values (@transcriptionId, @MeetingId, @BotId, @tokenHash, @expiresAt, 'queued', @now, @now)
                on conflict (meeting_id, bot_id) do nothing
                """, new { transcriptionId, step.MeetingId, step.BotId, tokenHash = Secrets.Hash(token), expiresAt = TranscriptionTokens.ExpiryOf(now, deepgramOptions.Value), now },
                tx, cancellationToken: ct));
            if (inserted == 0) return true;
            await outbox.EnqueueAsync(connection, tx, OutboxEnvelope.Create(Channel, $"bots:transcribe:{step.BotId}",
                new PipelineStep(TranscribeKind, step.MeetingId, step.BotId, transcriptionId, url, token), step.MeetingId, sensitive: true), ct);
            return true;
        }, ct);
        if (!recorded)
        {
            // Deleted (or recording another bot) while the file was copied: the copy is nobody's.
            await DeleteQuietlyAsync(stored.Key, step.MeetingId);
            return DeliveryResult.Sent("meeting deleted during the copy; file removed");
        }
        if (previous is not null) await DeleteQuietlyAsync(previous, step.MeetingId);
        log.LogInformation("Recording of meeting {MeetingId} stored ({Bytes} bytes)", step.MeetingId, stored.Size);
        return DeliveryResult.Sent(stored.Key);
    }

    /// <summary>
    /// Storing asks the access gate first (<c>storage_bytes</c>, a creation): a blocking storage violation (or an
    /// account that may not create) fails the meeting with <c>failure_reason</c> <c>storage_refused</c> and the
    /// gate's code in <c>failure_details</c>, instead of copying a file the plan does not allow.
    /// </summary>
    private async Task<DeliveryResult?> StorageRefusedAsync(MeetingRow meeting, PipelineStep step, CancellationToken ct)
    {
        try
        {
            await gate.EnsureAllowedAsync(meeting.OrganizationId, GatedAction.Create, "storage_bytes", ct);
            return null;
        }
        catch (ProblemException refused)
        {
            var details = System.Text.Json.JsonSerializer.Serialize(new { failureReason = "storage_refused", code = refused.Code, detail = refused.Message });
            await db.InTransactionAsync(async (connection, tx) =>
            {
                var failed = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    update meetings set status = 'failed', failure_reason = 'storage_refused', failure_details = @details, transcript_status = null, updated_at = @now
                    where id = @MeetingId and bot_id = @BotId and deleted_at is null and audio_key is null
                    """, new { details, now = time.GetUtcNow(), step.MeetingId, step.BotId }, tx, cancellationToken: ct));
                if (failed > 0) await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingFailed, step.MeetingId, ct);
            }, ct);
            log.LogWarning("Recording of meeting {MeetingId} not stored: the access gate refused storage ({Code})", step.MeetingId, refused.Code);
            return DeliveryResult.Permanent($"Storage refused: {refused.Code}.");
        }
    }

    /// <summary>The meeting's recording cannot be had: <c>failed</c> with <c>recording_unavailable:{reason}</c>, if it still owns the bot.</summary>
    internal async Task FailUnavailableAsync(PipelineStep step, string reason, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.InTransactionAsync(async (connection, tx) =>
        {
            var failed = await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings set status = 'failed', failure_reason = @reason, transcript_status = null, updated_at = @now
                where id = @MeetingId and bot_id = @BotId and deleted_at is null and status = 'done'
                """, new { reason = "recording_unavailable:" + reason, now, step.MeetingId, step.BotId }, tx, cancellationToken: ct));
            if (failed > 0) await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingFailed, step.MeetingId, ct);
        }, ct);
    }

    private async Task DeleteQuietlyAsync(string key, string meetingId)
    {
        try
        {
            await files.DeleteAsync(key, CancellationToken.None);
        }
        catch (Exception e)
        {
            log.LogError(e, "Could not delete the file {Key} of meeting {MeetingId}; it is left in storage", key, meetingId);
        }
    }

    private async Task<DeliveryResult> TranscribeAsync(PipelineStep step, CancellationToken ct)
    {
        if (CallbackUrl(configuration, step.Token!) is not { } callback) return DeliveryResult.Permanent("PublicBaseUrl is not set.");
        var audioUrl = step.AudioUrl;
        if (audioUrl is null)
        {
            // A transcription requested again (repair sweep, POST …/transcript): Recall's pre-signed link of the time
            // has expired, so a fresh one is asked for.
            var bot = await recall.GetBotAsync(step.BotId, ct);
            if (!bot.Ok) return bot.Failure!.Transient ? DeliveryResult.Transient(bot.Failure.Message, bot.Failure.RetryAfter) : DeliveryResult.Permanent(bot.Failure.Message);
            if (bot.Value!.AudioDownloadUrl is not { } link) return DeliveryResult.Transient("The bot has no recording download link.");
            audioUrl = link;
        }
        var result = await deepgram.TranscribeAsync(audioUrl, callback, step.TranscriptionId!, ct);
        var now = time.GetUtcNow();
        if (result.Accepted is { } accepted)
        {
            await using var connection = await db.OpenAsync(ct);
            // The callback may be faster than this write: it then finds the transcription by the id it carries in metadata.extra.
            await connection.ExecuteAsync(new CommandDefinition(
                "update transcriptions set request_id = @RequestId, status = case when status = 'queued' then 'requested' else status end, updated_at = @now where id = @TranscriptionId",
                new { accepted.RequestId, now, step.TranscriptionId }, cancellationToken: ct));
            return DeliveryResult.Sent(accepted.RequestId);
        }
        var failure = result.Failure!;
        if (failure.Transient) return DeliveryResult.Transient(failure.Message, failure.RetryAfter);
        await db.InTransactionAsync(async (connection, tx) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "update transcriptions set status = 'failed', error = @Message, updated_at = @now where id = @TranscriptionId",
                new { failure.Message, now, step.TranscriptionId }, tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings set status = 'transcription_failed', transcript_status = 'failed', updated_at = @now
                where id = @MeetingId and bot_id = @BotId and status = 'transcribing'
                """, new { now, step.MeetingId, step.BotId }, tx, cancellationToken: ct));
        }, ct);
        return DeliveryResult.Permanent(failure.Message);
    }
}
