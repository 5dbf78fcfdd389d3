using System.Data.Common;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Events;
using Dapper;

namespace Backstop.Features.Bots;

/// <summary>
/// The slice's outbound events (<c>meeting.*</c>), each written in the transaction of its change with the meeting's
/// public representation (<see cref="MeetingResponse"/>, as <c>GET /v1/meetings/{id}</c> shows it) read in that
/// transaction, so the event shows the change it announces.
/// </summary>
internal sealed class MeetingEvents(IEventPublisher events)
{
    public async Task PublishAsync(DbConnection connection, DbTransaction tx, string type, string meetingId, CancellationToken ct)
    {
        var row = await connection.QuerySingleOrDefaultAsync<MeetingRow>(new CommandDefinition(
            $"select {Meetings.Columns} from meetings where id = @meetingId", new { meetingId }, tx, cancellationToken: ct));
        if (row is null) return;
        var history = row.BotId is null
            ? []
            : (await connection.QueryAsync<BotEventRow>(new CommandDefinition(
                "select meeting_id, bot_id, code, sub_code, occurred_at from meeting_bot_events where bot_id = @BotId order by occurred_at, code",
                new { row.BotId }, tx, cancellationToken: ct))).AsList();
        await events.PublishAsync(connection, tx, type, row.OrganizationId, MeetingResponse.From(row, history), ct);
    }

    /// <summary>The event a move to <paramref name="status"/> announces: <c>meeting.failed</c> for <c>failed</c>, else the bot's move.</summary>
    public static string ForMove(string status) => status == MeetingStatus.Failed ? EventTypes.MeetingFailed : EventTypes.MeetingBotStatusChanged;
}
