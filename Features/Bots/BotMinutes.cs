using Backstop.Features.Quota;

namespace Backstop.Features.Bots;

/// <summary>
/// The <c>bot_minutes</c> usage metric, counted as Recall bills a bot: from <c>joining_call</c> to its end
/// (<c>call_ended</c>, or <c>fatal</c>), per second, the waiting
/// room included; a bot that fails before joining is not counted. Recorded once per bot (Quota idempotency key
/// <c>bot-minutes:{botId}</c>, and the row of <c>meeting_bot_minutes</c>) through <see cref="IUsageMeter.RecordAsync"/>
/// in the webhook's transaction, as soon as the bot's history holds both ends (in any delivery order), rounded up to
/// whole minutes per bot.
/// </summary>
internal sealed class BotMinutes(IUsageMeter usage, TimeProvider time, ILogger<BotMinutes> log)
{
    public const string Metric = "bot_minutes";

    /// <summary>Codes that mean the bot is in the call or on its way in: the earliest one starts the billed time.</summary>
    private static readonly string[] StartCodes =
        ["joining_call", "in_waiting_room", "in_call_not_recording", "recording_permission_allowed", "recording_permission_denied", "in_call_recording"];

    /// <summary>Codes that end the billed time: the earliest one (<c>done</c> always follows <c>call_ended</c>, so it ends nothing).</summary>
    private static readonly string[] EndCodes = ["call_ended", "fatal"];

    public static string UsageKey(string botId) => "bot-minutes:" + botId;

    /// <summary>Whole minutes, rounded up, of a bot's billed time (Recall bills seconds; a started second counts).</summary>
    public static long Minutes(TimeSpan billed) => billed <= TimeSpan.Zero ? 0 : ((long)Math.Ceiling(billed.TotalSeconds) + 59) / 60;

    public static bool Concerns(string code) => StartCodes.Contains(code) || EndCodes.Contains(code);

    /// <summary>
    /// Records the bot's minutes when its history (this transaction's view) has a start and an end; answers the minutes
    /// recorded, or null when not yet complete (or never billed: it ended before it joined).
    /// </summary>
    public async Task<long?> RecordIfEndedAsync(DbConnection connection, DbTransaction tx, string organizationId, string meetingId, string botId, CancellationToken ct)
    {
        var events = (await connection.QueryAsync<(string Code, DateTimeOffset OccurredAt)>(new CommandDefinition(
            "select code, occurred_at from meeting_bot_events where bot_id = @botId", new { botId }, tx, cancellationToken: ct))).AsList();
        DateTimeOffset? joining = null, started = null, ended = null;
        foreach (var (code, at) in events)
        {
            if (code == "joining_call" && (joining is null || at < joining)) joining = at;
            if (StartCodes.Contains(code) && (started is null || at < started)) started = at;
            if (EndCodes.Contains(code) && (ended is null || at < ended)) ended = at;
        }
        // joining_call is the billed start; a later in-call code stands in only when that event never reached us.
        started = joining ?? started;
        if (ended is null || started is null || started >= ended) return null;
        var minutes = Minutes(ended.Value - started.Value);
        // Once per bot, decided by the row's primary key: the first complete (start, end) counts, whatever arrives later.
        var first = await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into meeting_bot_minutes (bot_id, meeting_id, organization_id, started_at, ended_at, minutes, created_at)
            values (@botId, @meetingId, @organizationId, @started, @ended, @minutes, @now)
            on conflict (bot_id) do nothing
            """, new { botId, meetingId, organizationId, started, ended, minutes, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        if (first == 0) return null;
        // Usage that already happened is recorded, never refused (Recall has billed it); the key makes a redelivery count nothing.
        var scope = await usage.PrepareAsync(organizationId, Metric, requireLimit: false, ct);
        await usage.RecordAsync(connection, tx, scope, minutes, UsageKey(botId), ct);
        log.LogInformation("Bot {BotId} of meeting {MeetingId} was in its call {Minutes} minute(s)", botId, meetingId, minutes);
        return minutes;
    }
}
