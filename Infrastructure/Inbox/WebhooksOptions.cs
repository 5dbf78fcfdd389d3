namespace Backstop.Infrastructure.Inbox;

/// <summary>Settings of the inbox itself (section <c>Webhooks</c>). Providers are enabled by their own sections.</summary>
internal sealed class WebhooksOptions : IValidatedOptions
{
    public const string Section = "Webhooks";

    /// <summary>Processing attempts (the first, inline one included) before an event is marked <c>dead</c>.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Delay before the first retry; doubles with every further failure.</summary>
    public int RetryBaseDelaySeconds { get; set; } = 60;

    /// <summary>Upper bound of the retry delay.</summary>
    public int RetryMaxDelaySeconds { get; set; } = 6 * 3600;

    /// <summary>How old a signature timestamp (Stripe, Svix) may be, in either direction.</summary>
    public int SignatureToleranceSeconds { get; set; } = 300;

    /// <summary>Paddle's window: its SDKs use 5 s, which is fragile with clock skew; configurable on its own.</summary>
    public int PaddleSignatureToleranceSeconds { get; set; } = 300;

    /// <summary>Largest accepted body per provider (<c>Webhooks:MaxBodyBytes:&lt;provider&gt;</c>); larger ones are answered 413 and not stored.</summary>
    public WebhookBodyLimits MaxBodyBytes { get; set; } = new();

    /// <summary>Processed and ignored events are deleted this many days after their last change.</summary>
    public int ProcessedRetentionDays { get; set; } = 7;

    /// <summary>Dead events are kept longer, for inspection and replay.</summary>
    public int DeadRetentionDays { get; set; } = 30;

    /// <summary>Most events stored and processed in one group commit (one durable commit).</summary>
    public int GroupCommitMaxBatch { get; set; } = 256;

    /// <summary>How long the writer waits for more deliveries before committing a batch; 0 commits what is queued
    /// as soon as the writer is free (batches then form by themselves under load, and a lone delivery waits for nothing).</summary>
    public int GroupCommitWaitMilliseconds { get; set; }

    /// <summary>Events per batch of the inbox and retention sweeps.</summary>
    public int BatchSize { get; set; } = 100;

    public IEnumerable<string> Validate()
    {
        if (MaxAttempts is < 1 or > 100) yield return "Webhooks:MaxAttempts must be between 1 and 100.";
        if (RetryBaseDelaySeconds is < 1 or > 86400) yield return "Webhooks:RetryBaseDelaySeconds must be between 1 and 86400.";
        if (RetryMaxDelaySeconds < RetryBaseDelaySeconds || RetryMaxDelaySeconds > 7 * 86400)
            yield return "Webhooks:RetryMaxDelaySeconds must be at least Webhooks:RetryBaseDelaySeconds and at most 604800.";
        if (SignatureToleranceSeconds is < 1 or > 3600) yield return "Webhooks:SignatureToleranceSeconds must be between 1 and 3600.";
        if (PaddleSignatureToleranceSeconds is < 1 or > 3600) yield return "Webhooks:PaddleSignatureToleranceSeconds must be between 1 and 3600.";
        foreach (var problem in MaxBodyBytes.Validate()) yield return problem;
        if (ProcessedRetentionDays is < 1 or > 3650) yield return "Webhooks:ProcessedRetentionDays must be between 1 and 3650.";
        if (DeadRetentionDays is < 1 or > 3650) yield return "Webhooks:DeadRetentionDays must be between 1 and 3650.";
        if (BatchSize is < 1 or > 10000) yield return "Webhooks:BatchSize must be between 1 and 10000.";
        if (GroupCommitMaxBatch is < 1 or > 10000) yield return "Webhooks:GroupCommitMaxBatch must be between 1 and 10000.";
        if (GroupCommitWaitMilliseconds is < 0 or > 1000) yield return "Webhooks:GroupCommitWaitMilliseconds must be between 0 and 1000.";
    }

    public TimeSpan RetryDelay(int failedAttempts)
    {
        // 2^n overflows quickly; past 30 doublings every sane base is above the cap anyway.
        var factor = Math.Pow(2, Math.Min(Math.Max(failedAttempts - 1, 0), 30));
        return TimeSpan.FromSeconds(Math.Min(RetryBaseDelaySeconds * factor, RetryMaxDelaySeconds));
    }
}
