using System.Globalization;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Features.Bots;

/// <summary>One bot status as Recall reported it, from either webhook shape.</summary>
internal sealed record RecallStatusEvent(string BotId, string Code, string? SubCode, DateTimeOffset UpdatedAt, string? MeetingId, string? Claim)
{
    /// <summary>
    /// Current shape: <c>{"event":"bot.joining_call","data":{"data":{"code","sub_code","updated_at"},"bot":{"id","metadata"}}}</c>;
    /// legacy: <c>{"event":"bot.status_change","data":{"bot_id","status":{"code","sub_code","created_at"}}}</c>.
    /// Null when the body names no bot; a missing time is the time we received it.
    /// </summary>
    public static RecallStatusEvent? Parse(string eventType, string payload, DateTimeOffset receivedAt)
    {
        using var document = JsonDocument.Parse(payload);
        if (!document.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object) return null;
        string? botId, code, subCode, at, meetingId = null, claim = null;
        if (data.TryGetProperty("bot", out var bot) && bot.ValueKind == JsonValueKind.Object)
        {
            botId = Str(bot, "id");
            var inner = data.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object ? d : default;
            code = Str(inner, "code");
            subCode = Str(inner, "sub_code");
            at = Str(inner, "updated_at");
            if (bot.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object)
            {
                meetingId = Str(metadata, BotStarter.MetadataMeetingId);
                claim = Str(metadata, BotStarter.MetadataClaim);
            }
        }
        else
        {
            botId = Str(data, "bot_id");
            var status = data.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
            code = Str(status, "code");
            subCode = Str(status, "sub_code");
            at = Str(status, "created_at") ?? Str(status, "updated_at");
        }
        code ??= eventType.StartsWith("bot.", StringComparison.Ordinal) && eventType != "bot.status_change" ? eventType["bot.".Length..] : null;
        if (botId is null || code is null) return null;
        var updatedAt = at is not null && DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : receivedAt;
        return new RecallStatusEvent(botId, code, subCode, updatedAt, meetingId, claim);
    }

    private static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
}

/// <summary>
/// Recall's bot status webhooks (<c>bot.*</c>), in the inbox's transaction. Every status is kept in the bot's history
/// (once: the history is unique per bot, code and time). The meeting moves only forward (a higher
/// <see cref="MeetingStatus.Rank"/>) and only for an event newer than the last one applied (Recall's
/// <c>updated_at</c>), so any delivery order ends in the same state. An unknown code or sub-code is stored and
/// moves nothing. A bot that no meeting owns (or owns no longer) is sent away; a bot whose start was interrupted
/// before its id was recorded is adopted by the meeting its metadata names, if that claim is still open.
/// </summary>
internal sealed class RecallStatusHandler(Db db, IOutbox outbox, BotMinutes minutes, MeetingEvents events, TimeProvider time, ILogger<RecallStatusHandler> log) : IWebhookHandler
{
    public string Provider => "recall";

    public bool Handles(string eventType) => eventType.StartsWith("bot.", StringComparison.Ordinal);

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var (connection, tx, webhook) = context;
        RecallStatusEvent? e;
        try
        {
            e = RecallStatusEvent.Parse(webhook.EventType, webhook.Payload, webhook.ReceivedAt);
        }
        catch (JsonException)
        {
            e = null;
        }
        if (e is null)
        {
            log.LogWarning("Recall event {WebhookId} ({EventType}) names no bot or status; stored, nothing done", webhook.Id, webhook.EventType);
            return;
        }

        var now = time.GetUtcNow();
        var lockClause = db.Dialect.ForUpdate();
        var meeting = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
            $"select {Meetings.Columns} from meetings where bot_id = @BotId {lockClause}", new { e.BotId }, tx, cancellationToken: ct));
        if (meeting is null && e.MeetingId is not null && e.Claim is not null &&
            await BotStarter.RecordBotAsync(connection, tx, e.MeetingId, e.Claim, e.BotId, now) == 1)
        {
            log.LogInformation("Bot {BotId} adopted by meeting {MeetingId} from its webhook (its start was interrupted)", e.BotId, e.MeetingId);
            meeting = await connection.QuerySingleAsync<MeetingRow>(new CommandDefinition(
                $"select {Meetings.Columns} from meetings where bot_id = @BotId {lockClause}", new { e.BotId }, tx, cancellationToken: ct));
        }
        if (meeting is null || meeting.DeletedAt is not null)
        {
            log.LogWarning("Recall reported {Code} for bot {BotId}, which no meeting owns; sending it away", e.Code, e.BotId);
            // Keyed by this delivery: an earlier send-away of the same bot (a stop it did not obey yet) does not swallow it.
            await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(e.BotId, meeting?.Id, "webhook:" + webhook.Id), ct);
            return;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into meeting_bot_events (id, meeting_id, bot_id, code, sub_code, occurred_at, created_at)
            values (@id, @meetingId, @BotId, @Code, @SubCode, @UpdatedAt, @now)
            on conflict (bot_id, code, occurred_at) do nothing
            """, new { id = Ids.New(time), meetingId = meeting.Id, e.BotId, e.Code, e.SubCode, e.UpdatedAt, now }, tx, cancellationToken: ct));
        // bot_minutes, once the history has both ends of the bot's billed time (whatever order they were delivered in).
        if (BotMinutes.Concerns(e.Code)) await minutes.RecordIfEndedAsync(connection, tx, meeting.OrganizationId, meeting.Id, e.BotId, ct);

        // Older than what was applied, or a late event of the previous bot while a new start holds the meeting.
        if (meeting.BotStatusAt is { } last && last >= e.UpdatedAt) return;
        if (meeting.BotClaim is not null) return;
        var target = MeetingStatus.FromRecall(e.Code);
        var moves = target is not null && MeetingStatus.Rank(target) > MeetingStatus.Rank(meeting.Status);
        var status = moves ? target! : meeting.Status;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            update meetings
            set bot_status = @Code, bot_sub_code = @SubCode, bot_status_at = @UpdatedAt, status = @status,
                failure_reason = case when @failed then coalesce(@SubCode, 'fatal') else failure_reason end,
                transcript_status = case when @done then 'pending' else transcript_status end,
                updated_at = @now
            where id = @Id
            """, new { e.Code, e.SubCode, e.UpdatedAt, status, failed = moves && status == MeetingStatus.Failed, done = moves && status == MeetingStatus.Done, now, meeting.Id },
            tx, cancellationToken: ct));
        if (moves && status == MeetingStatus.Done)
            await outbox.EnqueueAsync(connection, tx, RecordingPipeline.FetchRecording(meeting.Id, e.BotId), ct);
        if (moves) await events.PublishAsync(connection, tx, MeetingEvents.ForMove(status), meeting.Id, ct);
    }
}
