using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Backstop.Infrastructure.Events;

internal static class EventsApiExtensions
{
    /// <summary>The events API: endpoint registration, reading events, replays and recoveries (their job).</summary>
    public static IServiceCollection AddEventsApi(this IServiceCollection services)
    {
        // Delivery (AddEvents) registers these for its own checks; the API's registration check needs them too, and
        // binding the options twice or trying the resolver again changes nothing.
        services.AddOptions<EventsOptions>().BindConfiguration(EventsOptions.Section);
        services.TryAddSingleton<IEventTargetResolver, DnsEventTargetResolver>();
        services.AddSingleton<EventEndpointRules>();
        services.AddSingleton<EventEndpointStore>();
        services.AddSingleton<EventRedeliveries>();
        services.AddRecurringJob<EventRecoveryJob>();
        return services;
    }
}
