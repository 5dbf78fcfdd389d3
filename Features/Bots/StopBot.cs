using Backstop.Infrastructure.Outbox.Recall;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>DELETE /v1/meetings/{id}/bot</c>: sends the bot away through the outbox (<c>leave_call</c>, written in the
/// same transaction as the stop). A bot that has not joined yet makes the meeting <c>cancelled</c>; one in the call
/// leaves and Recall's webhooks carry the meeting on to <c>processing</c> and <c>done</c>, so what was recorded is kept.
/// Answers 202: the bot leaves shortly after.
/// </summary>
internal sealed class StopBot(Db db, IOutbox outbox, Meetings meetings, IAuditLog audit, TimeProvider time) : Endpoint<MeetingIdRequest, MeetingResponse>
{
    public override void Configure()
    {
        Delete("/v1/meetings/{id}/bot");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Stop the meeting's recording bot (202; it leaves the call shortly after).");
        Description(d => d.Answers<MeetingResponse>(202).Problems(404, 409));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        var stopped = await db.InTransactionAsync(async (connection, tx) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"""
                update meetings
                set status = case when status = 'joining' then 'cancelled' else status end,
                    stop_requested_at = coalesce(stop_requested_at, @now), updated_at = @now
                where id = @Id and organization_id = @organizationId and deleted_at is null
                  and status in ('joining', 'in_call', 'recording') and bot_id is not null
                returning {Meetings.Columns}
                """, new { req.Id, organizationId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
            // Keyed by this stop: a later stop of the same bot (a new one, a restart) is sent too.
            if (row is not null)
            {
                var stopId = Ids.New(time);
                await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(row.BotId!, row.Id, "stop:" + stopId), ct);
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.BotStop, "meeting", row.Id, organizationId, new { row.BotId, stopId, row.Status }), ct);
            }
            return row;
        }, ct);

        if (stopped is null)
        {
            var current = await meetings.GetAsync(organizationId, req.Id, ct);
            if (current.BotClaim is not null) throw BotProblems.BotStarting();
            // Asked again after the bot was sent away: the same answer, nothing sent twice.
            if (current.StopRequestedAt is not null && current.BotId is not null)
            {
                await Send.ResponseAsync(MeetingResponse.From(current, await meetings.HistoryAsync(current, ct)), 202, ct);
                return;
            }
            throw BotProblems.NoActiveBot();
        }
        await Send.ResponseAsync(MeetingResponse.From(stopped, await meetings.HistoryAsync(stopped, ct)), 202, ct);
    }
}
