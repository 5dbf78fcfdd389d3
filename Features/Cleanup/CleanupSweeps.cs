using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Cleanup;

/// <summary>
/// The recurring jobs that are cleanup sweeps, whichever slice owns them: each job declares its kind where it is
/// declared (<see cref="IRecurringJob.Kind"/>), so no list of ids here can name a job wrongly or miss a new one.
/// </summary>
internal static class CleanupSweeps
{
    /// <summary>The registered cleanup sweeps, by id.</summary>
    public static IReadOnlyList<RecurringJobDefinition> Registered(IEnumerable<RecurringJobDefinition> definitions) =>
        definitions.Where(d => d.Kind == JobKind.Cleanup).OrderBy(d => d.Id, StringComparer.Ordinal).ToList();
}
