using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Cleanup;

internal static class CleanupModule
{
    /// <summary>The orphaned-bots and storage-cleanup sweeps and the cleanup admin endpoints. Needs <c>AddBots()</c> (meetings, storage).</summary>
    public static IServiceCollection AddCleanup(this IServiceCollection services)
    {
        services.AddCheckedOptions<CleanupOptions>(CleanupOptions.Section);
        services.AddRecurringJob<OrphanedBotsJob>();
        services.AddRecurringJob<StorageCleanupJob>();
        return services;
    }
}
