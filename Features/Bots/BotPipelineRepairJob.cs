using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Observability;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Providers.Recall;
using Prometheus;

namespace Backstop.Features.Bots;

/// <summary>
/// Every 15 minutes, no stuck state without a clock (docs/bots.md, "Repair"):
/// <list type="bullet">
/// <item><c>processing</c> for longer than <see cref="StuckAfter"/>: the bot is fetched again (<c>GET</c> at Recall) and its
/// status applied as its webhook would have (history, forward-only move, the recording fetched on <c>done</c>);</item>
/// <item><c>done</c> without audio for longer than <see cref="StuckAfter"/>, with no pipeline message pending: the
/// recording is asked for again (a new <c>fetch_recording</c>) while Recall has a link; after
/// <see cref="MaxFetchAttempts"/> attempts the meeting is <c>failed</c> (<c>recording_unavailable</c>);</item>
/// <item><c>transcribing</c> for longer than <c>Deepgram:CallbackTimeoutMinutes</c>: the transcription is requested again
/// once with a fresh token; the next time <c>transcription_failed</c>;</item>
/// <item>expired <c>Idempotency-Key</c>s of <c>POST /v1/meetings</c> are deleted.</item>
/// </list>
/// Each kind reads a bounded page; each meeting is its own transaction (with its audit row), so one failure is logged
/// and counted and the run goes on. Sets the gauge <c>backstop_meetings_by_status</c>.
/// </summary>
internal sealed class BotPipelineRepairJob(
    Db db,
    RecallClient recall,
    BotMinutes minutes,
    IOutbox outbox,
    IAuditLog audit,
    MeetingEvents events,
    IOptions<DeepgramOptions> deepgram,
    TimeProvider time,
    JobContext context,
    ILogger<BotPipelineRepairJob> log) : IRecurringJob, IReportsCounts
{
    public static string Id => "bot-pipeline-repair";
    public static string DefaultCron => "*/15 * * * *";

    public static readonly TimeSpan StuckAfter = TimeSpan.FromHours(1);
    public const int MaxFetchAttempts = 3;
    public const int BatchSize = 100;
    public const int KeysPerRun = 1000;
    private const string Actor = "job:bot-pipeline-repair";

    public const string Refetched = "processing_refetched";
    public const string FetchRequested = "fetch_requested";
    public const string RecordingUnavailable = "recording_unavailable";
    public const string TranscriptionRequested = "transcription_requested";
    public const string TranscriptionFailed = "transcription_failed";

    private static readonly Gauge ByStatus = Metrics.CreateGauge(
        "backstop_meetings_by_status", "Meetings (not deleted) by status, as the bot-pipeline-repair sweep last counted them.", "status").Seeded(MeetingStatus.All);

    private static readonly Counter Repairs = Metrics.CreateCounter(
        "backstop_meeting_repairs_total", "Stuck meetings the bot-pipeline-repair sweep acted on, by kind.", "kind")
        .Seeded(Refetched, FetchRequested, RecordingUnavailable, TranscriptionRequested, TranscriptionFailed);

    private readonly Dictionary<string, long> counts = new()
    {
        [Refetched] = 0, [FetchRequested] = 0, [RecordingUnavailable] = 0, [TranscriptionRequested] = 0, [TranscriptionFailed] = 0,
        ["failed"] = 0, ["keysPruned"] = 0,
    };

    public IReadOnlyDictionary<string, long> Counts => counts;

    private sealed record Stuck(string Id, string OrganizationId, string BotId);

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using (var connection = await db.OpenAsync(ct))
            counts["keysPruned"] = await MeetingIdempotency.PruneAsync(connection, now, KeysPerRun, ct);

        foreach (var meeting in await PageAsync("status = 'processing'", now - StuckAfter, ct))
        {
            if (context.Stop.IsCancellationRequested) break;
            await TryAsync(meeting, () => RefetchProcessingAsync(meeting, ct));
        }
        foreach (var meeting in await PageAsync("status = 'done' and audio_key is null" + NoPipelineMessage, now - StuckAfter, ct))
        {
            if (context.Stop.IsCancellationRequested) break;
            await TryAsync(meeting, () => RepairDoneAsync(meeting, ct));
        }
        var callbackTimeout = TimeSpan.FromMinutes(deepgram.Value.CallbackTimeoutMinutes);
        foreach (var meeting in await PageAsync("status = 'transcribing'" + NoPipelineMessage, now - callbackTimeout, ct))
        {
            if (context.Stop.IsCancellationRequested) break;
            await TryAsync(meeting, () => RepairTranscribingAsync(meeting, ct));
        }
        await CountStatusesAsync(ct);
        return counts[Refetched] + counts[FetchRequested] + counts[RecordingUnavailable] + counts[TranscriptionRequested] + counts[TranscriptionFailed];
    }

    /// <summary>A pipeline step of the meeting still waiting in the outbox (being retried): not stuck, the outbox is on it.</summary>
    internal const string NoPipelineMessage =
        " and not exists (select 1 from outbox_messages o where o.reference = meetings.id and o.channel = 'bots' and o.status in ('pending', 'sending'))";

    private async Task<List<Stuck>> PageAsync(string condition, DateTimeOffset cutoff, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        return (await connection.QueryAsync<Stuck>(new CommandDefinition(
            $"""
            select id, organization_id, bot_id from meetings
            where {condition} and deleted_at is null and bot_id is not null and bot_claim is null and updated_at < @cutoff
            order by updated_at, id
            limit @limit
            """, new { cutoff, limit = BatchSize }, cancellationToken: ct))).AsList();
    }

    private async Task TryAsync(Stuck meeting, Func<Task<string?>> repair)
    {
        try
        {
            if (await repair() is { } kind)
            {
                counts[kind]++;
                Repairs.WithLabels(kind).Inc();
            }
        }
        catch (Exception e)
        {
            counts["failed"]++;
            log.LogError(e, "Could not repair meeting {MeetingId}; the next run tries again", meeting.Id);
        }
    }

    /// <summary><c>processing</c> for too long: Recall is asked for the bot, and its status applied as the webhook would have.</summary>
    private async Task<string?> RefetchProcessingAsync(Stuck meeting, CancellationToken ct)
    {
        var bot = await recall.GetBotAsync(meeting.BotId, ct);
        if (!bot.Ok || bot.Value!.Status is not { } code)
            throw new InvalidOperationException($"Recall did not answer the bot {meeting.BotId}: {bot.Failure?.Message ?? "no status"}");
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            var lockClause = db.Dialect.ForUpdate();
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"select {Meetings.Columns} from meetings where id = @Id and bot_id = @BotId and status = 'processing' and deleted_at is null {lockClause}",
                meeting, tx, cancellationToken: ct));
            if (row is null) return null;
            await connection.ExecuteAsync(new CommandDefinition(
                """
                insert into meeting_bot_events (id, meeting_id, bot_id, code, sub_code, occurred_at, created_at)
                values (@id, @meetingId, @botId, @code, null, @now, @now)
                on conflict (bot_id, code, occurred_at) do nothing
                """, new { id = Ids.New(time), meetingId = row.Id, botId = meeting.BotId, code, now }, tx, cancellationToken: ct));
            if (BotMinutes.Concerns(code)) await minutes.RecordIfEndedAsync(connection, tx, row.OrganizationId, row.Id, meeting.BotId, ct);
            var target = MeetingStatus.FromRecall(code);
            var moves = target is not null && MeetingStatus.Rank(target) > MeetingStatus.Rank(row.Status);
            var status = moves ? target! : row.Status;
            // updated_at is touched either way: a bot still processing at Recall is asked again only after another hour.
            await connection.ExecuteAsync(new CommandDefinition(
                """
                update meetings
                set bot_status = @code, bot_status_at = @now, status = @status, updated_at = @now,
                    failure_reason = case when @failed then 'fatal' else failure_reason end,
                    transcript_status = case when @done then 'pending' else transcript_status end
                where id = @Id
                """, new { code, now, status, failed = moves && status == MeetingStatus.Failed, done = moves && status == MeetingStatus.Done, row.Id },
                tx, cancellationToken: ct));
            if (moves && status == MeetingStatus.Done)
                await outbox.EnqueueAsync(connection, tx, RecordingPipeline.FetchRecording(row.Id, meeting.BotId), ct);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingRepair, "meeting", row.Id, row.OrganizationId,
                new { kind = Refetched, botId = meeting.BotId, recallStatus = code, from = row.Status, to = status }, Actor), ct);
            if (moves) await events.PublishAsync(connection, tx, MeetingEvents.ForMove(status), row.Id, ct);
            log.LogInformation("Meeting {MeetingId} was processing for over {Hours} h; Recall says {Code}: now {Status}", row.Id, StuckAfter.TotalHours, code, status);
            return Refetched;
        }, ct);
    }

    /// <summary>
    /// <c>done</c> without audio: while attempts remain and Recall has a link, a new <c>fetch_recording</c> is queued;
    /// every attempt counts (a link that is missing, or a copy that failed, alike); at the last the meeting fails.
    /// </summary>
    private async Task<string?> RepairDoneAsync(Stuck meeting, CancellationToken ct)
    {
        int attempts;
        await using (var connection = await db.OpenAsync(ct))
            attempts = await AttemptsAsync(connection, null, meeting, "fetch", ct);
        string? link = null;
        if (attempts < MaxFetchAttempts)
        {
            var bot = await recall.GetBotAsync(meeting.BotId, ct);
            // Recall unreachable says nothing about the recording: no attempt is counted.
            if (!bot.Ok && bot.Failure!.Transient) throw new InvalidOperationException($"Recall did not answer the bot {meeting.BotId}: {bot.Failure.Message}");
            link = bot.Ok ? bot.Value!.AudioDownloadUrl : null;
        }
        return await db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            var attempt = await CountAttemptAsync(connection, tx, meeting, "fetch", now, ct);
            if (attempt > MaxFetchAttempts || (link is null && attempt >= MaxFetchAttempts))
            {
                var failed = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    update meetings set status = 'failed', failure_reason = 'recording_unavailable', transcript_status = null, updated_at = @now
                    where id = @Id and bot_id = @BotId and status = 'done' and audio_key is null and deleted_at is null
                    """, new { now, meeting.Id, meeting.BotId }, tx, cancellationToken: ct));
                if (failed == 0) return null;
                await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingFailed, meeting.Id, ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingRepair, "meeting", meeting.Id, meeting.OrganizationId,
                    new { kind = RecordingUnavailable, botId = meeting.BotId, attempts = Math.Min(attempt, MaxFetchAttempts), from = MeetingStatus.Done, to = MeetingStatus.Failed }, Actor), ct);
                log.LogWarning("Meeting {MeetingId}: no recording after {Attempts} fetch attempts; failed (recording_unavailable)", meeting.Id, MaxFetchAttempts);
                return RecordingUnavailable;
            }
            var touched = await connection.ExecuteAsync(new CommandDefinition(
                "update meetings set updated_at = @now where id = @Id and bot_id = @BotId and status = 'done' and audio_key is null and deleted_at is null",
                new { now, meeting.Id, meeting.BotId }, tx, cancellationToken: ct));
            if (touched == 0) return null;
            if (link is not null)
                await outbox.EnqueueAsync(connection, tx, OutboxEnvelope.Create(RecordingPipeline.Channel, $"bots:fetch_recording:{meeting.BotId}:repair:{attempt}",
                    new PipelineStep(RecordingPipeline.FetchKind, meeting.Id, meeting.BotId), meeting.Id), ct);
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingRepair, "meeting", meeting.Id, meeting.OrganizationId,
                new { kind = FetchRequested, botId = meeting.BotId, attempt, linkAvailable = link is not null }, Actor), ct);
            return FetchRequested;
        }, ct);
    }

    /// <summary><c>transcribing</c> past the callback timeout: requested again once (fresh token), then <c>transcription_failed</c>.</summary>
    private Task<string?> RepairTranscribingAsync(Stuck meeting, CancellationToken ct) =>
        db.InTransactionAsync(async (connection, tx) =>
        {
            var now = time.GetUtcNow();
            var lockClause = db.Dialect.ForUpdate();
            var still = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                $"select id from meetings where id = @Id and bot_id = @BotId and status = 'transcribing' and deleted_at is null {lockClause}",
                meeting, tx, cancellationToken: ct));
            if (still is null) return null;
            var attempt = await CountAttemptAsync(connection, tx, meeting, "transcribe", now, ct);
            if (attempt == 1)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "update meetings set updated_at = @now where id = @Id", new { now, meeting.Id }, tx, cancellationToken: ct));
                await RecordingPipeline.RequestAgainAsync(connection, tx, outbox, deepgram.Value, meeting.Id, meeting.BotId, "repair:1", now, ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingRepair, "meeting", meeting.Id, meeting.OrganizationId,
                    new { kind = TranscriptionRequested, botId = meeting.BotId }, Actor), ct);
                log.LogWarning("Meeting {MeetingId}: no Deepgram callback within {Minutes} min; transcription requested again", meeting.Id, deepgram.Value.CallbackTimeoutMinutes);
                return TranscriptionRequested;
            }
            await connection.ExecuteAsync(new CommandDefinition(
                "update transcriptions set status = 'failed', error = 'callback_timeout', updated_at = @now where meeting_id = @Id and bot_id = @BotId and status <> 'completed'",
                new { now, meeting.Id, meeting.BotId }, tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                "update meetings set status = 'transcription_failed', transcript_status = 'failed', updated_at = @now where id = @Id",
                new { now, meeting.Id }, tx, cancellationToken: ct));
            await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingRepair, "meeting", meeting.Id, meeting.OrganizationId,
                new { kind = TranscriptionFailed, botId = meeting.BotId, from = MeetingStatus.Transcribing, to = MeetingStatus.TranscriptionFailed }, Actor), ct);
            log.LogWarning("Meeting {MeetingId}: no Deepgram callback after a second request; transcription_failed", meeting.Id);
            return TranscriptionFailed;
        }, ct);

    private static Task<int> AttemptsAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? tx, Stuck meeting, string kind, CancellationToken ct) =>
        connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "select coalesce(max(attempts), 0) from meeting_repairs where meeting_id = @Id and bot_id = @BotId and kind = @kind",
            new { meeting.Id, meeting.BotId, kind }, tx, cancellationToken: ct));

    /// <summary>Adds an attempt of <paramref name="kind"/> for the meeting's bot; answers the attempt's number (1 for the first).</summary>
    private static Task<int> CountAttemptAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction tx, Stuck meeting, string kind,
        DateTimeOffset now, CancellationToken ct) =>
        connection.ExecuteScalarAsync<int>(new CommandDefinition(
            """
            insert into meeting_repairs (meeting_id, bot_id, kind, attempts, last_attempt_at) values (@Id, @BotId, @kind, 1, @now)
            on conflict (meeting_id, bot_id, kind) do update set attempts = meeting_repairs.attempts + 1, last_attempt_at = excluded.last_attempt_at
            returning attempts
            """, new { meeting.Id, meeting.BotId, kind, now }, tx, cancellationToken: ct));

    private async Task CountStatusesAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = (await connection.QueryAsync<(string Status, long Count)>(new CommandDefinition(
            "select status, count(*) from meetings where deleted_at is null group by status", cancellationToken: ct))).ToDictionary(r => r.Status, r => r.Count);
        foreach (var status in MeetingStatus.All) ByStatus.WithLabels(status).Set(rows.GetValueOrDefault(status));
    }
}
