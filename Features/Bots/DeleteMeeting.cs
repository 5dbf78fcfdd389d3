using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Recall;
using Backstop.Infrastructure.Security;
using Dapper;
using FastEndpoints;

namespace Backstop.Features.Bots;

/// <summary>
/// <c>DELETE /v1/meetings/{id}</c>: soft delete. A bot in the call is sent away (<c>leave_call</c> in the same
/// transaction) and the meeting is <c>cancelled</c>; a start in flight sees the deletion when it records its bot
/// and sends that bot away itself.
/// </summary>
internal sealed class DeleteMeeting(Db db, IOutbox outbox, TimeProvider time) : Endpoint<MeetingIdRequest>
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
        var deleted = await db.InTransactionAsync(async (connection, tx) =>
        {
            var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
                $"""
                update meetings
                set deleted_at = @now, updated_at = @now,
                    status = case when status in ('joining', 'in_call', 'recording') then 'cancelled' else status end,
                    stop_requested_at = case when status in ('joining', 'in_call', 'recording') and bot_id is not null then @now else stop_requested_at end
                where id = @Id and organization_id = @organizationId and deleted_at is null
                returning {Meetings.Columns}
                """, new { req.Id, organizationId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
            if (row is { StopRequestedAt: not null, BotId: { } botId })
                await outbox.EnqueueAsync(connection, tx, OutboxRecall.LeaveCall(botId, row.Id), ct);
            return row is not null;
        }, ct);
        if (!deleted) throw BotProblems.MeetingNotFound();
        await Send.NoContentAsync(ct);
    }
}
