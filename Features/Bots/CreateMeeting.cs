using Backstop.Features.Billing;
using Backstop.Features.Quota;
using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record CreateMeetingRequest
{
    public string Title { get; init; } = "";
    public string MeetingUrl { get; init; } = "";
    /// <summary>Start the recording bot now; the meeting exists only if the bot could be started.</summary>
    public bool StartBot { get; init; }
    /// <summary>When the bot joins (Recall schedules it); default: at once.</summary>
    public DateTimeOffset? JoinAt { get; init; }
    /// <summary>The member the meeting is for: notifications go to them, else to the organization's owners.</summary>
    public string? ExternalUserId { get; init; }

    public sealed class Validator : Validator<CreateMeetingRequest>
    {
        public Validator()
        {
            RuleFor(r => r.Title).NotEmpty().WithMessage("title is required.").MaximumLength(200).WithMessage("title must be at most 200 characters.");
            RuleFor(r => r.MeetingUrl).NotEmpty().WithMessage("meetingUrl is required.")
                .MaximumLength(2000).WithMessage("meetingUrl must be at most 2000 characters.")
                .Must(u => MeetingUrls.TryNormalize(u, out _)).WithMessage("meetingUrl must be an absolute http(s) link to the meeting.")
                .WithErrorCode("invalid_meeting_url");
            RuleFor(r => r.ExternalUserId).MaximumLength(200).WithMessage("externalUserId must be at most 200 characters.");
            // Recall would dispatch a bot for a past time at once; a past joinAt is a client's mistake, not "now".
            RuleFor(r => r.JoinAt).Must(joinAt => joinAt is null || joinAt > Resolve<TimeProvider>().GetUtcNow())
                .WithMessage("joinAt must be in the future.").WithErrorCode("join_at_in_past");
        }
    }
}

/// <summary><c>POST /v1/meetings</c>: a meeting of the caller's organization, with its bot started at once when <c>startBot</c>.</summary>
internal sealed class CreateMeeting(Db db, BotStarter starter, Meetings meetings, IAccessGate gate, IUsageMeter usage, IAuditLog audit, MeetingEvents events, TimeProvider time)
    : Endpoint<CreateMeetingRequest, MeetingResponse>
{
    public override void Configure()
    {
        Post("/v1/meetings");
        Policies(BackstopPolicies.Write);
        Summary(s =>
        {
            s.Summary = "Create a meeting; with startBot, its recording bot is started in the same call (201 only if it started).";
            s.Description = "With an Idempotency-Key header (1-200 printable ASCII characters, kept 24 hours per organization) a repetition of the same request answers 200 with the first answer; the same key with another request is refused 422 idempotency_key_reused.";
        });
        Description(d => d.Answers<MeetingResponse>(201).Problems(402, 403, 409, 422, 502, 503));
    }

    /// <summary>The Quota metric a meeting counts towards, and the key of its consumption (undone with a meeting a refused start removes).</summary>
    public const string UsageMetric = "meetings_per_month";

    public static string UsageKey(string meetingId) => "meeting:" + meetingId;

    public override async Task HandleAsync(CreateMeetingRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        MeetingUrls.TryNormalize(req.MeetingUrl, out var normalized);
        // Idempotency-Key: a repetition of a request already answered gets that answer (checked before the gates: the
        // first answer stands even if the account could not create now).
        var key = MeetingIdempotency.Read(HttpContext);
        var requestHash = key is null ? null : MeetingIdempotency.RequestHash(req);
        if (key is not null && await ReplayAsync(organizationId, key, requestHash!, ct)) return;
        if (req.StartBot) starter.EnsureConfigured();
        await CheckCreationAllowedAsync(organizationId, ct);
        if (req.StartBot) await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, "storage_bytes", ct);
        if (req.StartBot) await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, BotMinutes.Metric, ct);
        // A plan that does not name the metric leaves meetings unlimited (still counted).
        var quota = await usage.PrepareAsync(organizationId, UsageMetric, requireLimit: false, ct);

        var now = time.GetUtcNow();
        var id = Ids.New(time);
        // With startBot the insert is the claim: the row is born 'joining', so the partial unique index decides between
        // two creations on one URL, and a refused start deletes it again.
        var claim = req.StartBot ? Ids.New(time) : null;
        MeetingRow created;
        try
        {
            created = await db.InTransactionAsync(async (connection, tx) =>
            {
                // First, so two requests with one key are decided by the key's primary key before anything else.
                if (key is not null) await MeetingIdempotency.TakeAsync(connection, tx, organizationId, key, requestHash!, id, now, ct);
                var row = await connection.QuerySingleAsync<MeetingRow>(new CommandDefinition(
                $"""
                insert into meetings (id, organization_id, title, meeting_url, normalized_url, external_user_id, join_at, status,
                                      bot_claim, created_at, updated_at)
                values (@id, @organizationId, @title, @meetingUrl, @normalized, @externalUserId, @joinAt, @status, @claim, @now, @now)
                returning {Meetings.Columns}
                """,
                new
                {
                    id, organizationId, title = req.Title.Trim(), meetingUrl = req.MeetingUrl.Trim(), normalized,
                    externalUserId = string.IsNullOrWhiteSpace(req.ExternalUserId) ? null : req.ExternalUserId.Trim(), joinAt = req.JoinAt,
                    status = req.StartBot ? MeetingStatus.Joining : MeetingStatus.Scheduled, claim, now,
                }, tx, cancellationToken: ct));
                // Counted in the insert's transaction: over the limit (403 quota_exceeded) no meeting stays.
                await usage.ConsumeAsync(connection, tx, quota, 1, UsageKey(id), ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingCreate, "meeting", id, organizationId,
                    new { row.Title, joinAt = row.JoinAt, startBot = req.StartBot }), ct);
                if (claim is not null)
                    await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.BotStart, "meeting", id, organizationId, new { claim }), ct);
                await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingCreated, id, ct);
                return row;
            }, ct);
        }
        catch (Exception e) when (DialectSql.IsUniqueViolation(e))
        {
            // Another request with the same key committed first: answer as its repetition.
            if (key is not null && await ReplayAsync(organizationId, key, requestHash!, ct)) return;
            await using var connection = await db.OpenAsync(ct);
            throw BotProblems.UrlInUse(await Meetings.ActiveOnUrlAsync(connection, organizationId, normalized, ct));
        }

        if (req.StartBot)
        {
            try
            {
                await starter.CallAndRecordAsync(created, createdForStart: true);
            }
            catch when (key is not null)
            {
                // The start was refused and its meeting removed: the key is free again for a retry.
                await MeetingIdempotency.ReleaseIfMeetingGoneAsync(db, organizationId, key, id);
                throw;
            }
        }

        var row = await meetings.GetAsync(organizationId, id, ct);
        var response = MeetingResponse.From(row, await meetings.HistoryAsync(row, ct));
        if (key is not null) await MeetingIdempotency.AnsweredAsync(db, organizationId, key, id, response, CancellationToken.None);
        await Send.ResponseAsync(response, 201, ct);
    }

    /// <summary>
    /// Answers a repetition of a keyed request (true), or false when the key is free (never used, expired, or given
    /// back by a refused start). The same key with another request: 422 <c>idempotency_key_reused</c>; while the
    /// first request is still starting its bot: 409 <c>idempotency_key_in_flight</c> with <c>Retry-After</c>.
    /// </summary>
    private async Task<bool> ReplayAsync(string organizationId, string key, string requestHash, CancellationToken ct)
    {
        MeetingIdempotency.KeyRow? taken;
        MeetingRow? meeting = null;
        await using (var connection = await db.OpenAsync(ct))
        {
            taken = await MeetingIdempotency.FindAsync(connection, organizationId, key, time.GetUtcNow(), ct);
            if (taken is null) return false;
            if (!string.Equals(taken.RequestHash, requestHash, StringComparison.Ordinal))
                throw new ProblemException(422, "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request. Use a new key for a new meeting.");
            if (taken.Response is null) meeting = await Meetings.FindAsync(connection, null, organizationId, taken.MeetingId, ct);
        }
        if (MeetingIdempotency.Parse(taken.Response) is { } first)
        {
            await Send.ResponseAsync(first, 200, ct);
            return true;
        }
        // No answer stored: the first request is still starting its bot, or it committed and its answer was lost.
        if (meeting is null)
        {
            await MeetingIdempotency.ReleaseIfMeetingGoneAsync(db, organizationId, key, taken.MeetingId);
            return false;
        }
        if (meeting.BotClaim is not null && meeting.BotId is null)
            throw new ProblemException(409, "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still being processed. Retry in a moment.",
                new Dictionary<string, string> { ["Retry-After"] = "1" });
        await Send.ResponseAsync(MeetingResponse.From(meeting, await meetings.HistoryAsync(meeting, ct)), 200, ct);
        return true;
    }

    /// <summary>
    /// The one place where creating a meeting (and so starting its bot) is gated, before anything is written: the
    /// Billing slice refuses it while the subscription is past due (402 <c>payment_past_due</c>), suspended or paused,
    /// or when a plan violation of the meetings limit stands (403 <c>plan_violation</c>).
    /// </summary>
    private Task CheckCreationAllowedAsync(string organizationId, CancellationToken ct) =>
        gate.EnsureAllowedAsync(organizationId, GatedAction.Create, "meetings_per_month", ct);
}
