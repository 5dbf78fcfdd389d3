using Backstop.Infrastructure.Outbox.Recall;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>DELETE /v1/meetings/{id}</c>: soft delete. A bot in the call is sent away (<c>leave_call</c> in the same
/// transaction) and the meeting is <c>cancelled</c>; a start in flight sees the deletion when it records its bot
/// and sends that bot away itself.
/// </summary>
internal sealed class DeleteMeeting(Db db, IOutbox outbox, IAuditLog audit, MeetingEvents events, TimeProvider time) : Endpoint<MeetingIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/meetings/{id}");
        Policies(BackstopPolicies.Write);
        Summary(s => s.Summary = "Delete a meeting (soft); an active bot is stopped.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(MeetingIdRequest req, CancellationToken ct)
    {
        var organizationId = User.OrganizationId();
        var now = time.GetUtcNow();
        var deleted = await db.InTransactionAsync(async (connection, tx) =>
        {
            // First the stop, when a bot is active: only a bot this delete stops is sent away here (one stopped earlier has its own message).
            var stopped = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                update meetings set status = 'cancelled', stop_requested_at = @now, updated_at = @now
                where id = @Id and organization_id = @organizationId and deleted_at is null
                  and status in ('joining', 'in_call', 'recording') and bot_id is not null
                returning bot_id
                """, new { req.Id, organizationId, now }, tx, cancellationToken: ct));
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"""
                update meetings
                set deleted_at = @now, updated_at = @now,
                    status = case when status in ('joining', 'in_call', 'recording') then 'cancelled' else status end
                where id = @Id and organization_id = @organizationId and deleted_at is null
                returning {Meetings.Columns}
                """, new { req.Id, organizationId, now }, tx, cancellationToken: ct));
            if (stopped is not null && row is not null)
                await outbox.EnqueueAsync(connection, tx, OutboxRecall.Stop(stopped, row.Id, "delete:" + row.Id), ct);
            if (row is not null)
                await audit.RecordAsync(connection, tx, new AuditEntry(AuditActions.MeetingDelete, "meeting", row.Id, organizationId,
                    new { botStopped = stopped }), ct);
            if (row is not null) await events.PublishAsync(connection, tx, Infrastructure.Events.EventTypes.MeetingDeleted, row.Id, ct);
            return row is not null;
        }, ct);
        if (!deleted) throw BotProblems.MeetingNotFound();
        await Send.NoContentAsync(ct);
    }
}
