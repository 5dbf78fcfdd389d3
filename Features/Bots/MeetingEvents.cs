using Backstop.Infrastructure.Events;

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

    /// <summary>
    /// One <paramref name="type"/> event per meeting of <paramref name="meetingIds"/> (in id order), as one batch: the
    /// meetings and their bots' histories read in two statements, then <see cref="IEventPublisher.PublishManyAsync"/>.
    /// </summary>
    public async Task PublishManyAsync(DbConnection connection, DbTransaction tx, string type, IReadOnlyList<string> meetingIds, CancellationToken ct)
    {
        var ids = meetingIds.Distinct(StringComparer.Ordinal).ToArray();
        var rows = (await connection.QueryAsync<MeetingRow>(new CommandDefinition(
            $"select {Meetings.Columns} from meetings where {DialectSql.Of(connection).AnyOf("id", "ids")} order by id", new { ids }, tx, cancellationToken: ct))).AsList();
        if (rows.Count == 0) return;
        var bots = rows.Where(r => r.BotId is not null).Select(r => r.BotId!).Distinct(StringComparer.Ordinal).ToArray();
        var history = bots.Length == 0
            ? []
            : (await connection.QueryAsync<BotEventRow>(new CommandDefinition(
                $"select meeting_id, bot_id, code, sub_code, occurred_at from meeting_bot_events where {DialectSql.Of(connection).AnyOf("bot_id", "bots")} order by occurred_at, code",
                new { bots }, tx, cancellationToken: ct))).AsList();
        var byBot = history.ToLookup(h => h.BotId, StringComparer.Ordinal);
        await events.PublishManyAsync(connection, tx,
            rows.Select(r => new EventToPublish(type, r.OrganizationId, MeetingResponse.From(r, r.BotId is null ? [] : byBot[r.BotId].ToList()))).ToList(), ct);
    }


    /// <summary>The event a move to <paramref name="status"/> announces: <c>meeting.failed</c> for <c>failed</c>, else the bot's move.</summary>
    public static string ForMove(string status) => status == MeetingStatus.Failed ? EventTypes.MeetingFailed : EventTypes.MeetingBotStatusChanged;
}
