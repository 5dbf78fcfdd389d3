using Backstop.Features.Quota;
using Backstop.Infrastructure.Outbox.Recall;
using Backstop.Infrastructure.Providers.Recall;

namespace Backstop.Features.Bots;

/// <summary>
/// Starting a bot, atomic with the provider call as far as two systems allow:
/// <list type="number">
/// <item>claim (commit): the meeting moves to <c>joining</c> with a fresh claim id, by one conditional update (or,
/// for a new meeting, by its insert); the partial unique index over active meetings refuses a second claim on the
/// same URL, the condition on the status a second claim on the same meeting;</item>
/// <item>Recall <c>POST /api/v1/bot/</c> with <c>Idempotency-Key: bot-start:{meeting}:{claim}</c> and the meeting
/// id and claim in the bot's metadata;</item>
/// <item>record the bot id (commit), conditional on the claim still being ours.</item>
/// </list>
/// Recall refuses or cannot be reached: the claim is undone (a meeting created for this start is deleted). Recall
/// created the bot but recording its id fails: <see cref="BotCompensation"/> undoes the claim and sends the bot
/// away through the outbox. The window left (the process dies between 2 and 3) is closed by the status webhooks:
/// they carry the claim in the metadata, so the bot is adopted by its meeting, or sent away when no claim matches.
/// </summary>
internal sealed class BotStarter(Db db, RecallClient recall, IOptions<RecallOptions> recallOptions, BotCompensation compensation, IUsageMeter usage, IAuditLog audit, TimeProvider time, ILogger<BotStarter> log)
{
    public const string MetadataMeetingId = "backstop_meeting_id";
    public const string MetadataClaim = "backstop_claim";

    public static string IdempotencyKey(string meetingId, string claim) => $"bot-start:{meetingId}:{claim}";

    /// <summary>The <c>meetings_per_month</c> consumption of a restart (a bot started on an existing meeting), undone with its claim.</summary>
    public static string RestartUsageKey(string meetingId, string claim) => $"bot-restart:{meetingId}:{claim}";

    public void EnsureConfigured()
    {
        if (!recallOptions.Value.ApiEnabled) throw BotProblems.NotConfigured();
    }

    /// <summary><c>POST /v1/meetings/{id}/bot</c>: claims the meeting, then starts the bot.</summary>
    public async Task StartAsync(string organizationId, string meetingId, CancellationToken ct)
    {
        EnsureConfigured();
        var claim = Ids.New(time);
        // Every bot costs (Recall, Deepgram, storage): a restart counts a meeting like a creation, in the claim's transaction.
        var quota = await usage.PrepareAsync(organizationId, CreateMeeting.UsageMetric, requireLimit: false, ct);
        MeetingRow? claimed;
        try
        {
            claimed = await db.InTransactionAsync(async (connection, tx) =>
            {
                var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                    $"""
                    update meetings
                    set status = 'joining', bot_claim = @claim, bot_previous_status = status, updated_at = @now
                    where id = @meetingId and organization_id = @organizationId and deleted_at is null and bot_claim is null
                      and status in ('scheduled', 'done', 'failed', 'cancelled', 'transcribed', 'transcription_failed')
                    returning {Meetings.Columns}
                    """, new { meetingId, organizationId, claim, now = time.GetUtcNow() }, tx, cancellationToken: ct));
                if (row is null) return null;
                var now = time.GetUtcNow();
                await connection.ExecuteAsync(new CommandDefinition(
                    "insert into meeting_bot_starts (meeting_id, claim, organization_id, created_at) values (@meetingId, @claim, @organizationId, @now)",
                    new { meetingId, claim, organizationId, now }, tx, cancellationToken: ct));
                // Over the limit: 403 quota_exceeded and the claim rolls back with it.
                await usage.ConsumeAsync(connection, tx, quota, 1, RestartUsageKey(meetingId, claim), ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.BotStart, "meeting", meetingId, organizationId,
                    new { claim, previousStatus = row.BotPreviousStatus }), ct);
                return row;
            }, ct);
        }
        catch (Exception e) when (DialectSql.IsUniqueViolation(e))
        {
            throw await UrlConflictAsync(organizationId, meetingId, ct);
        }

        if (claimed is null)
        {
            // Not claimable: unknown here (404), or a bot is starting, in the call, or its recording is still being processed.
            await new Meetings(db).GetAsync(organizationId, meetingId, ct);
            throw BotProblems.BotAlreadyActive(meetingId);
        }
        await CallAndRecordAsync(claimed, createdForStart: false);
    }

    /// <summary>The second and third steps, for a meeting whose claim (<see cref="MeetingRow.BotClaim"/>) is committed.</summary>
    public async Task CallAndRecordAsync(MeetingRow claimed, bool createdForStart)
    {
        var claim = claimed.BotClaim ?? throw new InvalidOperationException("The meeting is not claimed.");
        // From here on nothing follows the caller's token: a client that hangs up must not leave a claim (or a bot) behind.
        var result = await recall.CreateBotAsync(new CreateBotRequest(
                claimed.MeetingUrl, recallOptions.Value.BotName, claimed.JoinAt,
                new Dictionary<string, string> { [MetadataMeetingId] = claimed.Id, [MetadataClaim] = claim }),
            IdempotencyKey(claimed.Id, claim), CancellationToken.None);

        if (!result.Ok)
        {
            await UndoClaimAsync(claimed.Id, claim, createdForStart);
            var failure = result.Failure!;
            log.LogWarning("Recall did not start a bot for meeting {MeetingId}: {Error}", claimed.Id, failure.Message);
            throw failure.Kind == RecallFailureKind.Unavailable
                ? BotProblems.ProviderUnavailable(failure.RetryAfter ?? TimeSpan.FromSeconds(30))
                : BotProblems.ProviderError(failure.Kind == RecallFailureKind.Unreachable && failure.Status is null
                    ? "it could not be reached in time."
                    : $"it answered {failure.Status}.");
        }

        var botId = result.Value!.Id;
        bool recorded;
        try
        {
            recorded = await RecordBotAsync(claimed.Id, claim, botId);
        }
        catch (Exception e)
        {
            log.LogError(e, "Bot {BotId} was created for meeting {MeetingId} but could not be recorded; compensating", botId, claimed.Id);
            await compensation.CompensateAsync(new BotCompensation.Work(claimed.Id, claim, botId, createdForStart));
            throw new Infrastructure.Errors.ProblemException(503, "bot_start_failed",
                "The bot was created but could not be recorded, so it is being sent away. Retry in a moment.",
                new Dictionary<string, string> { ["Retry-After"] = "5" });
        }
        if (!recorded)
        {
            // The meeting was stopped or deleted during the call (or a webhook already adopted this very bot).
            if (await OwnerOfAsync(botId) is not null) return;
            await compensation.CompensateAsync(new BotCompensation.Work(claimed.Id, claim, botId, createdForStart));
            throw BotProblems.MeetingChanged();
        }
        log.LogInformation("Bot {BotId} started for meeting {MeetingId}", botId, claimed.Id);
    }

    private async Task<bool> RecordBotAsync(string meetingId, string claim, string botId) =>
        await db.InTransactionAsync(async (connection, tx) => await RecordBotAsync(connection, tx, meetingId, claim, botId, time.GetUtcNow()) == 1);

    /// <summary>Makes the claimed meeting the owner of the bot (also used when a webhook adopts a bot whose start was interrupted).</summary>
    public static Task<int> RecordBotAsync(DbConnection connection, DbTransaction tx, string meetingId, string claim, string botId, DateTimeOffset now) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            update meetings
            set bot_id = @botId, bot_claim = null, bot_previous_status = null, bot_status = 'ready', bot_sub_code = null,
                bot_status_at = null, stop_requested_at = null, failure_reason = null, transcript_status = null, updated_at = @now
            where id = @meetingId and bot_claim = @claim and status = 'joining' and deleted_at is null
            """, new { meetingId, claim, botId, now }, tx));

    private async Task<string?> OwnerOfAsync(string botId)
    {
        await using var connection = await db.OpenAsync();
        return await connection.QuerySingleOrDefaultAsync<string>(
            "select id from meetings where bot_id = @botId and deleted_at is null", new { botId });
    }

    private async Task UndoClaimAsync(string meetingId, string claim, bool createdForStart)
    {
        try
        {
            await db.InTransactionAsync((connection, tx) => UndoClaimAsync(connection, tx, usage, meetingId, claim, createdForStart, time.GetUtcNow()));
        }
        catch (Exception e)
        {
            // The claim stays: the meeting shows 'joining' without a bot. No bot exists (Recall refused), so the
            // compensation's retries (which also undo the claim) are what repairs it; the leave_call they send is harmless.
            log.LogError(e, "Could not undo the bot claim of meeting {MeetingId}", meetingId);
            await compensation.CompensateAsync(new BotCompensation.Work(meetingId, claim, null, createdForStart));
        }
    }

    /// <summary>
    /// A meeting created only for this start disappears, and with it (same transaction) the monthly meeting it
    /// counted; an existing one goes back to where it was.
    /// </summary>
    public static async Task<int> UndoClaimAsync(DbConnection connection, DbTransaction tx, IUsageMeter usage, string meetingId, string claim,
        bool createdForStart, DateTimeOffset now)
    {
        if (!createdForStart)
        {
            var owner = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                update meetings
                set status = coalesce(bot_previous_status, 'scheduled'), bot_claim = null, bot_previous_status = null, updated_at = @now
                where id = @meetingId and bot_claim = @claim
                returning organization_id
                """, new { meetingId, claim, now }, tx));
            if (owner is null) return 0;
            // The restart's meeting is given back with its claim.
            if (await connection.ExecuteAsync(new CommandDefinition(
                    "delete from meeting_bot_starts where meeting_id = @meetingId and claim = @claim", new { meetingId, claim }, tx)) > 0)
                await usage.UndoAsync(connection, tx, owner, CreateMeeting.UsageMetric, RestartUsageKey(meetingId, claim), CancellationToken.None);
            return 1;
        }
        var organizationId = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "delete from meetings where id = @meetingId and bot_claim = @claim returning organization_id", new { meetingId, claim }, tx));
        if (organizationId is null) return 0;
        await usage.UndoAsync(connection, tx, organizationId, CreateMeeting.UsageMetric, CreateMeeting.UsageKey(meetingId), CancellationToken.None);
        return 1;
    }

    private async Task<ProblemException> UrlConflictAsync(string organizationId, string meetingId, CancellationToken ct)
    {
        var meeting = await new Meetings(db).GetAsync(organizationId, meetingId, ct);
        await using var connection = await db.OpenAsync(ct);
        return BotProblems.UrlInUse(await Meetings.ActiveOnUrlAsync(connection, organizationId, meeting.NormalizedUrl, ct));
    }
}
