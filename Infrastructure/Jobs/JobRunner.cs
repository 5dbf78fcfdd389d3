using Hangfire;
using Prometheus;
using Serilog.Context;

namespace Backstop.Infrastructure.Jobs;

internal sealed record JobRun
{
    public string Id { get; init; } = "";
    public string JobId { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string Outcome { get; init; } = "";
    public long Items { get; init; }
    public string? Error { get; init; }
    public string CorrelationId { get; init; } = "";

    /// <summary>The named counts of a job that reports them (<see cref="IReportsCounts"/>), as a JSON object; else null.</summary>
    public string? Counts { get; init; }
}

/// <summary>
/// Runs a recurring job under a lease row in our own database. Taking the lease is one conditional upsert: it
/// succeeds only if no lease exists or the existing one has expired, so across any number of instances and
/// Hangfire servers one run works and the others record themselves as <c>skipped</c> and return at once, holding
/// no worker (unlike <c>[DisableConcurrentExecution]</c>, which waits on a distributed lock).
/// While the job works, the lease is renewed every third of its length, conditionally on this run still holding
/// it, so a run longer than <c>Jobs:LeaseSeconds</c> keeps it; a run that lost it (a renewal found another holder,
/// or no renewal succeeded before it expired) is told through <see cref="JobContext.Stop"/>, stops at its next
/// batch and is recorded as <c>interrupted</c>. A crashed run renews nothing, so its lease expires by itself.
/// </summary>
internal sealed class JobRunner(
    IServiceScopeFactory scopes,
    Db db,
    TimeProvider time,
    IOptions<JobsOptions> options,
    IEnumerable<RecurringJobDefinition> definitions,
    ILogger<JobRunner> log)
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Running = "running";
    public const string Interrupted = "interrupted";

    private static readonly Counter Runs = Metrics.CreateCounter(
        "backstop_job_runs_total", "Recurring job runs by job and outcome.", "job", "outcome");

    /// <summary>The entry point Hangfire calls. Hangfire's own retries are off: the next scheduled run is the retry.</summary>
    [AutomaticRetry(Attempts = 0)]
    [JobDisplayName("{0}")]
    public async Task RunScheduledAsync(string jobId, CancellationToken ct)
    {
        var run = await RunAsync(jobId, ct);
        // Surfaces the failure in the Hangfire dashboard too; job_runs already has it.
        if (run.Outcome == Failed) throw new JobFailedException(jobId, run.Error ?? "unknown error");
    }

    public RecurringJobDefinition? Find(string jobId) =>
        definitions.FirstOrDefault(d => string.Equals(d.Id, jobId, StringComparison.Ordinal));

    public async Task<JobRun> RunAsync(string jobId, CancellationToken ct)
    {
        var definition = Find(jobId) ?? throw new InvalidOperationException($"No recurring job has id '{jobId}'.");
        var runId = Ids.New(time);
        using var correlation = LogContext.PushProperty("CorrelationId", runId);
        using var jobProperty = LogContext.PushProperty("JobId", jobId);

        var started = time.GetUtcNow();
        if (!await TryTakeLeaseAsync(jobId, runId, started, ct))
        {
            log.LogInformation("Job {JobId} skipped: another run holds its lease", jobId);
            var skipped = new JobRun { Id = runId, JobId = jobId, StartedAt = started, FinishedAt = started, Outcome = Skipped, CorrelationId = runId };
            await InsertRunAsync(skipped, ct);
            Runs.WithLabels(jobId, Skipped).Inc();
            return skipped;
        }

        var leaseLength = TimeSpan.FromSeconds(options.Value.LeaseSeconds);
        using var lost = new CancellationTokenSource();
        using var stopRenewing = new CancellationTokenSource();
        // Created before the job starts, so its ticks are at fixed thirds of the lease from the start whatever the
        // renewals cost, and a tick that comes while a renewal is still running is not lost.
        using var renewTimer = new PeriodicTimer(leaseLength / 3, time);
        var renewal = RenewLeaseAsync(jobId, runId, started + leaseLength, leaseLength, renewTimer, lost, stopRenewing.Token);
        try
        {
            var running = new JobRun { Id = runId, JobId = jobId, StartedAt = started, Outcome = Running, CorrelationId = runId };
            await InsertRunAsync(running, ct);
            log.LogInformation("Job {JobId} started", jobId);
            JobRun finished;
            IRecurringJob? job = null;
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var context = scope.ServiceProvider.GetRequiredService<JobContext>();
                context.JobId = jobId;
                context.RunId = runId;
                context.Stop = lost.Token;
                job = (IRecurringJob)scope.ServiceProvider.GetRequiredService(definition.Type);
                var items = await job.RunAsync(ct);
                if (lost.IsCancellationRequested)
                {
                    finished = running with { FinishedAt = time.GetUtcNow(), Outcome = Interrupted, Items = items, Counts = CountsOf(job), Error = "The run lost its lease while working (another run may have taken it) and stopped at its next batch boundary." };
                    log.LogWarning("Job {JobId} lost its lease and stopped after {Items} items", jobId, items);
                }
                else
                {
                    finished = running with { FinishedAt = time.GetUtcNow(), Outcome = Succeeded, Items = items, Counts = CountsOf(job) };
                    log.LogInformation("Job {JobId} succeeded with {Items} items", jobId, items);
                }
            }
            catch (Exception e)
            {
                var error = e.GetType().Name + ": " + e.Message;
                // What a failed run did before it failed is still recorded: it was done.
                finished = running with { FinishedAt = time.GetUtcNow(), Outcome = Failed, Error = error.Length > 2000 ? error[..2000] : error, Counts = CountsOf(job) };
                log.LogError(e, "Job {JobId} failed", jobId);
            }

            await FinishRunAsync(finished);
            Runs.WithLabels(jobId, finished.Outcome).Inc();
            return finished;
        }
        finally
        {
            await stopRenewing.CancelAsync();
            await renewal;
            if (!lost.IsCancellationRequested) await ReleaseLeaseAsync(jobId, runId);
        }
    }

    /// <summary>
    /// Renews the lease at every tick until the run ends. Never throws: a failed renewal is retried at the next tick,
    /// and only when the lease's end passes without a successful renewal (or a renewal finds another holder) is the
    /// run told it lost the lease.
    /// </summary>
    private async Task RenewLeaseAsync(
        string jobId, string holder, DateTimeOffset heldUntil, TimeSpan leaseLength, PeriodicTimer timer,
        CancellationTokenSource lost, CancellationToken stop)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var now = time.GetUtcNow();
                try
                {
                    await using var connection = await db.OpenAsync(stop);
                    var renewed = await connection.ExecuteAsync(new CommandDefinition(
                        """
                        update job_leases set lease_until = @until, updated_at = @now
                        where job_id = @jobId and holder = @holder
                        """, new { jobId, holder, now, until = now + leaseLength }, cancellationToken: stop));
                    if (renewed == 1)
                    {
                        heldUntil = now + leaseLength;
                        continue;
                    }
                    log.LogWarning("Job {JobId} lost its lease: another run holds it", jobId);
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    if (now < heldUntil)
                    {
                        log.LogWarning(e, "Could not renew the lease of job {JobId}; retrying until it expires at {LeaseUntil}", jobId, heldUntil);
                        continue;
                    }
                    log.LogWarning(e, "Job {JobId} lost its lease: no renewal succeeded before it expired", jobId);
                }
                await lost.CancelAsync();
                return;
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // The run ended, possibly in the middle of a renewal, which its cancellation aborted: nothing to do.
        }
    }

    private static string? CountsOf(IRecurringJob? job) =>
        job is IReportsCounts reports ? System.Text.Json.JsonSerializer.Serialize(reports.Counts) : null;

    private async Task<bool> TryTakeLeaseAsync(string jobId, string holder, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var taken = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            """
            insert into job_leases (job_id, holder, lease_until, created_at, updated_at)
            values (@jobId, @holder, @until, @now, @now)
            on conflict (job_id) do update
                set holder = excluded.holder, lease_until = excluded.lease_until, updated_at = excluded.updated_at
                where job_leases.lease_until <= @now
            returning holder
            """,
            new { jobId, holder, now, until = now.AddSeconds(options.Value.LeaseSeconds) }, cancellationToken: ct));
        return taken == holder;
    }

    private async Task ReleaseLeaseAsync(string jobId, string holder)
    {
        try
        {
            await using var connection = await db.OpenAsync();
            var now = time.GetUtcNow();
            await connection.ExecuteAsync(
                "update job_leases set lease_until = @now, updated_at = @now where job_id = @jobId and holder = @holder",
                new { jobId, holder, now });
        }
        catch (Exception e)
        {
            // The lease expires by itself; a failed release only delays the next run.
            log.LogWarning(e, "Could not release the lease of job {JobId}", jobId);
        }
    }

    private async Task InsertRunAsync(JobRun run, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            insert into job_runs (id, job_id, started_at, finished_at, outcome, items, error, correlation_id, created_at, updated_at)
            values (@Id, @JobId, @StartedAt, @FinishedAt, @Outcome, @Items, @Error, @CorrelationId, @StartedAt, @StartedAt)
            """, run, cancellationToken: ct));
    }

    private async Task FinishRunAsync(JobRun run)
    {
        // Not cancellable: a run that did its work must be recorded even when the host is stopping.
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync(
            """
            update job_runs set finished_at = @FinishedAt, outcome = @Outcome, items = @Items, error = @Error, counts = @Counts, updated_at = @FinishedAt
            where id = @Id
            """, run);
    }
}
