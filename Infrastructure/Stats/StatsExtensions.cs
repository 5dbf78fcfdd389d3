namespace Backstop.Infrastructure.Stats;

internal static class StatsExtensions
{
    /// <summary>The hourly counts' reader (the writers are static calls on their own transactions).</summary>
    public static IServiceCollection AddStats(this IServiceCollection services)
    {
        services.AddSingleton<HourlyCounts>();
        services.AddSingleton<IHourlyStats>(sp => sp.GetRequiredService<HourlyCounts>());
        return services;
    }
}
