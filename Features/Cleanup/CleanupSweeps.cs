using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Cleanup;

/// <summary>
/// The recurring jobs that are cleanup sweeps, whichever slice owns them: the two of this slice and the other slices'
/// retention sweeps. Listed by id because a slice may not reference another's types; an id whose job is not
/// registered (grace expiry before Billing exists) is simply not shown.
/// </summary>
internal static class CleanupSweeps
{
    public static readonly string[] Ids =
    [
        OrphanedBotsJob.Id,
        StorageCleanupJob.Id,
        "webhook-retention",
        "job-runs-retention",
        "auth-failures-cleanup",
        "messaging-cleanup",
        "grace-expiry",
    ];

    /// <summary>The registered cleanup sweeps, in the order of <see cref="Ids"/>.</summary>
    public static IReadOnlyList<RecurringJobDefinition> Registered(IEnumerable<RecurringJobDefinition> definitions)
    {
        var byId = definitions.ToDictionary(d => d.Id, StringComparer.Ordinal);
        return Ids.Where(byId.ContainsKey).Select(id => byId[id]).ToList();
    }
}
