using Backstop.Infrastructure.Providers.Recall;
using FastEndpoints;

namespace Backstop.Features.Bots;

internal sealed record UpdateMeetingRequest
{
    public string Id { get; init; } = "";

    /// <summary>When the bot joins; in the future. A scheduled bot not yet dispatched is moved at Recall.</summary>
    public DateTimeOffset? JoinAt { get; init; }

    public sealed class Validator : Validator<UpdateMeetingRequest>
    {
        public Validator()
        {
            RuleFor(r => r.JoinAt).NotNull().WithMessage("joinAt is required.");
            RuleFor(r => r.JoinAt).Must((_, joinAt, context) => joinAt is null || joinAt > Resolve<TimeProvider>().GetUtcNow())
                .WithMessage("joinAt must be in the future.").WithErrorCode("join_at_in_past");
        }
    }
}

/// <summary>
/// <c>PATCH /v1/meetings/{id}</c>: moves the meeting's <c>joinAt</c>. A meeting whose scheduled bot Recall has not
/// dispatched yet gets it moved at Recall first (<c>PATCH /api/v1/bot/{id}/</c>); once dispatched (Recall's 405, or a
/// bot status past <c>ready</c>) it is 409 <c>bot_already_dispatched</c>: stop the bot and start a new one instead.
/// </summary>
internal sealed class UpdateMeeting(Db db, RecallClient recall, Meetings meetings, IAuditLog audit, TimeProvider time) : Endpoint<UpdateMeetingRequest, MeetingResponse>
{
    public override void Configure()
    {
        Patch("/v1/meetings/{id}");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Move a meeting's joinAt (its scheduled bot too, while Recall has not dispatched it).");
        Description(d => d.Problems(404, 409, 502, 503));
    }

    public override async Task HandleAsync(UpdateMeetingRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        var joinAt = req.JoinAt!.Value;
        var meeting = await meetings.GetAsync(organizationId, req.Id, ct);
        if (meeting.BotClaim is not null) throw BotProblems.BotStarting();
        var scheduledBot = meeting.Status == MeetingStatus.Joining && meeting.BotId is not null;
        if (MeetingStatus.IsActive(meeting.Status) && (!scheduledBot || meeting.BotStatus is not (null or "ready")))
            throw BotAlreadyDispatched();
        if (scheduledBot)
        {
            var moved = await recall.UpdateJoinAtAsync(meeting.BotId!, joinAt, CancellationToken.None);
            if (!moved.Ok)
            {
                var failure = moved.Failure!;
                if (failure.Status == 405) throw BotAlreadyDispatched();
                throw failure.Kind == RecallFailureKind.Unavailable
                    ? BotProblems.ProviderUnavailable(failure.RetryAfter ?? TimeSpan.FromSeconds(30))
                    : BotProblems.ProviderError(failure.Status is null ? "it could not be reached in time." : $"it answered {failure.Status}.");
            }
        }
        var updated = await db.InTransactionAsync(async (connection, tx) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"""
                update meetings set join_at = @joinAt, updated_at = @now
                where id = @Id and organization_id = @organizationId and deleted_at is null
                  and bot_claim is null and coalesce(bot_id, '') = coalesce(@BotId, '')
                returning {Meetings.Columns}
                """, new { joinAt, now = time.GetUtcNow(), meeting.Id, organizationId, meeting.BotId }, tx, cancellationToken: ct));
            if (row is not null)
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingUpdate, "meeting", row.Id, organizationId,
                    new { joinAt = new { from = meeting.JoinAt, to = joinAt } }), ct);
            return row;
        }, ct);
        // A start or a stop came in between: the caller sees the meeting as it is now and may try again.
        if (updated is null) throw new ProblemException(409, "meeting_changed", "The meeting changed while its joinAt was being moved; read it and try again.");
        await Send.OkAsync(MeetingResponse.From(updated, await meetings.HistoryAsync(updated, ct)), ct);
    }

    private static ProblemException BotAlreadyDispatched() =>
        new(409, "bot_already_dispatched", "Recall has already dispatched this meeting's bot, so its join time can no longer move. Stop the bot and start a new one.");
}
