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

/// <summary>
/// A job that counts more than its item total (items done and failed, bytes freed, batches). Read once the run ends,
/// successful or not, and stored in <c>job_runs.counts</c>.
/// </summary>
internal interface IReportsCounts
{
    IReadOnlyDictionary<string, long> Counts { get; }
}

/// <summary>The category of a recurring job.</summary>
internal enum JobKind
{
    /// <summary>Keeps the service's own work moving (inbox, outbox, reconciliation, repairs).</summary>
    Maintenance,
    /// <summary>Removes or retires what is no longer needed (retention sweeps, orphaned bots, stored files, expired grace).</summary>
    Cleanup,
}

internal sealed record RecurringJobDefinition(string Id, string DefaultCron, Type Type, JobKind Kind = JobKind.Maintenance);

internal static class RecurringJobRegistration
{
    public static IServiceCollection AddRecurringJob<T>(this IServiceCollection services) where T : class, IRecurringJob
    {
        services.AddScoped<T>();
        services.AddSingleton(new RecurringJobDefinition(T.Id, T.DefaultCron, typeof(T), T.Kind));
        return services;
    }
}
