namespace Backstop.Infrastructure.Jobs;

internal sealed class JobsOptions : IValidatedOptions
{
    public const string Section = "Jobs";
    public const string Disabled = "disabled";
    public const string SqliteStorage = "sqlite";
    public const string MemoryStorage = "memory";

    /// <summary>
    /// Hangfire's own storage when the database is SQLite: <c>sqlite</c> (a file of its own, <see cref="SqliteFile"/>,
    /// so dashboard history survives a restart) or <c>memory</c>. PostgreSQL always uses Hangfire.PostgreSql.
    /// </summary>
    public string Storage { get; set; } = SqliteStorage;

    /// <summary>The Hangfire database file of <c>Storage=sqlite</c>; never the main database file, whose write lock it would contend for.</summary>
    public string SqliteFile { get; set; } = "./data/hangfire.db";

    /// <summary>Whether this instance runs a Hangfire server (workers). The dashboard and schedules work without.</summary>
    public bool RunServer { get; set; } = true;

    public int WorkerCount { get; set; } = 2;

    /// <summary>How long a run holds its job's lease; longer than any run should take, so a crashed run frees it.</summary>
    public int LeaseSeconds { get; set; } = 900;

    /// <summary>Cron schedule (UTC) per job id, overriding the job's default; <c>disabled</c> removes the schedule.</summary>
    public Dictionary<string, string> Schedules { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How often a server looks for due schedules and (PostgreSQL) queued jobs.</summary>
    public int PollIntervalSeconds { get; set; } = 5;

    /// <summary>Days that <c>job_runs</c> rows are kept.</summary>
    public int RunRetentionDays { get; set; } = 30;

    public IEnumerable<string> Validate()
    {
        if (WorkerCount is < 1 or > 64) yield return "Jobs:WorkerCount must be between 1 and 64.";
        if (LeaseSeconds is < 10 or > 86400) yield return "Jobs:LeaseSeconds must be between 10 and 86400.";
        if (PollIntervalSeconds is < 1 or > 300) yield return "Jobs:PollIntervalSeconds must be between 1 and 300.";
        if (RunRetentionDays is < 1 or > 3650) yield return "Jobs:RunRetentionDays must be between 1 and 3650.";
        if (!Storage.Equals(SqliteStorage, StringComparison.OrdinalIgnoreCase) && !Storage.Equals(MemoryStorage, StringComparison.OrdinalIgnoreCase))
            yield return $"Jobs:Storage must be '{SqliteStorage}' or '{MemoryStorage}' (got '{Storage}').";
        if (string.IsNullOrWhiteSpace(SqliteFile)) yield return "Jobs:SqliteFile must name a file.";
        foreach (var (id, cron) in Schedules)
        {
            if (JobSchedule.IsDisabled(cron.Trim())) continue;
            if (JobSchedule.TryParse(cron, out var error) is null)
                yield return $"Jobs:Schedules:{id} must be a cron expression (5 fields, or 6 with seconds) or '{Disabled}' (got '{cron}': {error}).";
        }
    }
}
