namespace Backstop.Features.Bots;

/// <summary>The slice's problems, each with its stable code.</summary>
internal static class BotProblems
{
    public static ProblemException MeetingNotFound() => new(404, "meeting_not_found", "No meeting with this id exists in your organization.");

    public static ProblemException BotAlreadyActive(string meetingId) =>
        new(409, "bot_already_active", "A recording is already in progress for this meeting. Stop it before starting a new one.")
        {
            Extensions = HeldBy(meetingId),
        };

    public static ProblemException UrlInUse(string? meetingId) =>
        new(409, "meeting_url_in_use", "This meeting URL is already being recorded in another session.")
        {
            Extensions = HeldBy(meetingId),
        };

    /// <summary><c>meetingId</c> in the problem body: the meeting that holds the bot or the URL (null when it ended meanwhile).</summary>
    private static Dictionary<string, object?> HeldBy(string? meetingId) => new() { ["meetingId"] = meetingId };

    public static ProblemException NoActiveBot() => new(409, "no_active_bot", "This meeting has no bot in the call to stop.");

    public static ProblemException BotStarting() =>
        new(409, "bot_starting", "The bot of this meeting is being started right now; try again in a few seconds.");

    public static ProblemException MeetingChanged() =>
        new(409, "meeting_changed", "The meeting was stopped or deleted while its bot was being started; the bot was sent away.");

    public static ProblemException ProviderError(string detail) => new(502, "bot_provider_error", "The recording provider refused or failed to start the bot: " + detail);

    public static ProblemException ProviderUnavailable(TimeSpan retryAfter) =>
        new(503, "bot_provider_unavailable", "The recording provider has no bot available right now; retry later.",
            new Dictionary<string, string> { ["Retry-After"] = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) });

    public static ProblemException NotConfigured() =>
        new(503, "provider_not_configured", "Recording bots are not configured on this server (Recall:ApiKey).");
}
