namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// What a running job can ask about its run, injected into the job (scoped: one per run). <see cref="Stop"/> is
/// signalled when the run lost its lease — another instance may now be running the same job — so the job stops at
/// its next batch boundary (<see cref="Data.BatchedDelete"/> looks at it between batches). Outside a run (a job
/// resolved directly) it is never signalled.
/// </summary>
internal sealed class JobContext
{
    public string? JobId { get; internal set; }

    public string? RunId { get; internal set; }

    public CancellationToken Stop { get; internal set; } = CancellationToken.None;
}
