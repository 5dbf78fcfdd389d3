namespace Backstop.Features.Quota;

/// <summary>Section <c>Quota</c>.</summary>
internal sealed class QuotaOptions : IValidatedOptions
{
    public const string Section = "Quota";

    /// <summary>
    /// Consumptions through the API are on disk (fsynced) before they are answered: a client told "consumed" goes
    /// on to create what it paid for, and a power cut that took the count back would let it past the limit.
    /// <c>false</c> commits like every other write (survives a process crash, not a machine's).
    /// </summary>
    public bool DurableConsume { get; set; } = true;

    /// <summary>
    /// Most consumptions and releases one group commit decides in one transaction (one fsync): what is queued when
    /// the writer is free, up to this many.
    /// </summary>
    public int GroupCommitMaxBatch { get; set; } = 256;

    /// <summary>
    /// Days a gauge's idempotency key (and its stored answer) is kept, and the least any key is kept; a counter's is
    /// kept for its window's longest period plus 7 days (a yearly window: 373 days). The daily
    /// <c>usage-key-retention</c> deletes older ones.
    /// </summary>
    public int IdempotencyRetentionDays { get; set; } = 35;

    /// <summary><c>repair</c> (reconciliation corrects a drifted counter and records it) or <c>report</c> (records only).</summary>
    public string Reconcile { get; set; } = "repair";

    /// <summary>Organizations per batch of the reconciliation sweep; keys per delete of the key retention.</summary>
    public int BatchSize { get; set; } = 200;

    /// <summary>
    /// Days a counter's row (its period's total, listed by <c>GET /v1/usage/{metric}/history</c>) is kept after its
    /// period ended; the daily <c>usage-key-retention</c> deletes older ones. 800: two years of monthly history.
    /// </summary>
    public int HistoryRetentionDays { get; set; } = 800;

    public bool Repair => string.Equals(Reconcile, "repair", StringComparison.OrdinalIgnoreCase);

    public IEnumerable<string> Validate()
    {
        if (Reconcile is not ("repair" or "report")) yield return $"Quota:Reconcile must be 'repair' or 'report' (got '{Reconcile}').";
        if (GroupCommitMaxBatch is < 1 or > 10000) yield return "Quota:GroupCommitMaxBatch must be between 1 and 10000.";
        if (IdempotencyRetentionDays is < 1 or > 3650) yield return "Quota:IdempotencyRetentionDays must be between 1 and 3650.";
        if (BatchSize is < 1 or > 10000) yield return "Quota:BatchSize must be between 1 and 10000.";
        if (HistoryRetentionDays is < 1 or > 36500) yield return "Quota:HistoryRetentionDays must be between 1 and 36500.";
    }
}
