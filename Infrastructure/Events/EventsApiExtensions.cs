using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Events;

internal static class EventsApiExtensions
{
    /// <summary>The events API: endpoint registration, reading events, replays and recoveries (their job).</summary>
    public static IServiceCollection AddEventsApi(this IServiceCollection services)
    {
        services.AddSingleton<EventEndpointRules>();
        services.AddSingleton<EventEndpointStore>();
        services.AddSingleton<EventRedeliveries>();
        services.AddRecurringJob<EventRecoveryJob>();
        return services;
    }
}
