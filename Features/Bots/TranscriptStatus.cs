namespace Backstop.Features.Bots;

internal static class TranscriptStatus
{
    /// <summary>The recording is being copied into storage.</summary>
    public const string Pending = "pending";
    public const string Transcribing = "transcribing";
    public const string Transcribed = "transcribed";
    public const string Failed = "failed";
}
