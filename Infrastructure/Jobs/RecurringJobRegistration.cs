namespace Backstop.Infrastructure.Jobs;

internal static class RecurringJobRegistration
{
    public static IServiceCollection AddRecurringJob<T>(this IServiceCollection services) where T : class, IRecurringJob
    {
        services.AddScoped<T>();
        services.AddSingleton(new RecurringJobDefinition(T.Id, T.DefaultCron, typeof(T), T.Kind));
        return services;
    }
}
