using Cronos;

namespace Backstop.Infrastructure.Jobs;

/// <summary>
/// Cron expressions as Hangfire reads them (Cronos; 5 fields, or 6 with seconds first; <c>@daily</c>-style
/// macros), parsed at start-up so a bad one stops the start naming its key instead of failing inside Hangfire.
/// </summary>
internal static class JobSchedule
{
    private static readonly char[] Separators = [' ', '\t'];

    /// <summary>The expression, or null with <paramref name="error"/> saying what is wrong with it.</summary>
    public static CronExpression? TryParse(string value, out string? error)
    {
        var cron = value.Trim();
        var format = CronFormat.Standard;
        if (!cron.StartsWith('@'))
        {
            var fields = cron.Split(Separators, StringSplitOptions.RemoveEmptyEntries).Length;
            if (fields == 6) format |= CronFormat.IncludeSeconds;
            else if (fields != 5)
            {
                error = $"has {fields} fields; a cron expression has 5, or 6 with seconds first";
                return null;
            }
        }
        try
        {
            error = null;
            return CronExpression.Parse(cron, format);
        }
        catch (CronFormatException e)
        {
            error = e.Message.TrimEnd('.');
            return null;
        }
    }

    /// <summary>The schedule in force for a job: <c>Jobs:Schedules:&lt;id&gt;</c>, else the job's default.</summary>
    public static string Of(RecurringJobDefinition definition, JobsOptions options) =>
        options.Schedules.TryGetValue(definition.Id, out var configured) ? configured.Trim() : definition.DefaultCron;

    public static bool IsDisabled(string schedule) => schedule.Equals(JobsOptions.Disabled, StringComparison.OrdinalIgnoreCase);

    /// <summary>The next time (UTC) after <paramref name="now"/> the schedule fires; null when disabled or never.</summary>
    public static DateTimeOffset? NextRun(string schedule, DateTimeOffset now) =>
        IsDisabled(schedule) ? null : TryParse(schedule, out _)?.GetNextOccurrence(now, TimeZoneInfo.Utc);
}
