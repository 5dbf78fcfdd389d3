namespace Backstop.Features.Bots;

/// <summary>
/// The meeting's state machine (the table is in docs/bots.md). A status only ever moves to one of higher
/// <see cref="Rank"/>: Recall delivers events late, twice and out of order, and an older event must never take a
/// meeting back. Equal ranks (two Recall codes that map to <c>joining</c>) change nothing but the bot's own status.
/// </summary>
internal static class MeetingStatus
{
    public const string Scheduled = "scheduled";
    public const string Joining = "joining";
    public const string InCall = "in_call";
    public const string Recording = "recording";
    public const string Processing = "processing";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string Transcribing = "transcribing";
    public const string Transcribed = "transcribed";
    public const string TranscriptionFailed = "transcription_failed";

    public static readonly string[] All =
        [Scheduled, Joining, InCall, Recording, Processing, Done, Failed, Cancelled, Transcribing, Transcribed, TranscriptionFailed];

    /// <summary>A bot is live: the meeting URL is taken (partial unique index) and no second bot may start.</summary>
    public static readonly string[] Active = [Joining, InCall, Recording];

    /// <summary>Where a (new) bot may be started from: never started, or the previous bot finished.</summary>
    public static readonly string[] Startable = [Scheduled, Done, Failed, Cancelled, Transcribed, TranscriptionFailed];

    public static bool IsActive(string status) => Active.Contains(status);

    public static int Rank(string status) => status switch
    {
        Scheduled => 0,
        Joining => 1,
        InCall => 2,
        Recording => 3,
        Processing => 4,
        // The bot's life ends in exactly one of these; nothing a bot reports afterwards moves the meeting.
        Done or Failed or Cancelled => 5,
        Transcribing => 6,
        Transcribed or TranscriptionFailed => 7,
        _ => -1,
    };

    /// <summary>
    /// The meeting status a Recall bot status code means, or null for codes that do not move the meeting
    /// (permission events, <c>ready</c>, <c>analysis_*</c>, and any code Recall adds later).
    /// </summary>
    public static string? FromRecall(string code) => code switch
    {
        "joining_call" or "in_waiting_room" => Joining,
        "in_call_not_recording" => InCall,
        "in_call_recording" => Recording,
        "call_ended" => Processing,
        "done" => Done,
        "fatal" => Failed,
        _ => null,
    };
}
