namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// A sweep that runs on a schedule. Implementations are idempotent: a run may be skipped (lease held elsewhere),
/// repeated, or cut short, and the next run picks up what is left. They return how many items they handled.
/// </summary>
internal interface IRecurringJob
{
    /// <summary>Stable id: the Hangfire recurring job id, the <c>job_runs.job_id</c> and the key under <c>Jobs:Schedules</c>.</summary>
    static abstract string Id { get; }

    /// <summary>Cron (UTC) used when <c>Jobs:Schedules:&lt;id&gt;</c> is not set.</summary>
    static abstract string DefaultCron { get; }

    /// <summary>What the job is, declared with it: <see cref="JobKind.Cleanup"/> sweeps are listed by <c>GET /v1/admin/cleanup</c>.</summary>
    static virtual JobKind Kind => JobKind.Maintenance;

    Task<long> RunAsync(CancellationToken ct);
}
