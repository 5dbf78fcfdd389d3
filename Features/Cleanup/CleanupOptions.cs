namespace Backstop.Features.Cleanup;

/// <summary>Section <c>Cleanup</c>: thresholds and batch size of the Cleanup sweeps (their schedules are under <c>Jobs:Schedules</c>).</summary>
internal sealed class CleanupOptions : IValidatedOptions
{
    public const string Section = "Cleanup";

    /// <summary>Hours without any update after which a meeting in an active bot status is failed as <c>bot_timeout</c>.</summary>
    public double OrphanedBotHours { get; set; } = 2;

    /// <summary>Hours after its join time (or creation) past which a bot Recall still reports in the call is sent away; the meeting keeps its recording.</summary>
    public double MaxRecordingHours { get; set; } = 6;

    /// <summary>Most bots the orphaned-bots sweep asks Recall about in one run (one <c>GET</c> each); the rest wait for the next run.</summary>
    public int OrphanChecksPerRun { get; set; } = 200;

    /// <summary>Days after its soft delete that a meeting's audio file is removed from storage.</summary>
    public int StorageRetentionDays { get; set; } = 30;

    /// <summary>Rows per batch: each batch is one short transaction, so SQLite's single writer lock is never held for long.</summary>
    public int BatchSize { get; set; } = 500;

    public IEnumerable<string> Validate()
    {
        if (OrphanedBotHours is < 0.1 or > 720) yield return "Cleanup:OrphanedBotHours must be between 0.1 and 720.";
        if (StorageRetentionDays is < 0 or > 3650) yield return "Cleanup:StorageRetentionDays must be between 0 and 3650.";
        if (MaxRecordingHours is < 0.5 or > 48) yield return "Cleanup:MaxRecordingHours must be between 0.5 and 48.";
        if (OrphanChecksPerRun is < 1 or > 10000) yield return "Cleanup:OrphanChecksPerRun must be between 1 and 10000.";
        if (BatchSize is < 1 or > 5000) yield return "Cleanup:BatchSize must be between 1 and 5000.";
    }
}
