using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Events;

internal static class EventsExtensions
{
    /// <summary>Outbound events: the publisher every slice writes its events with, and their delivery (the <c>event</c> outbox channel).</summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddSingleton<IEventPublisher, EventPublisher>();
        services.AddSingleton<EventSecrets>();
        services.AddCheckedOptions<EventsOptions>(EventsOptions.Section);
        services.AddSingleton<IEventTargetResolver, DnsEventTargetResolver>();
        services.AddEventDeliveryHttp();
        services.AddSingleton<EventEndpointLimiter>();
        services.AddSingleton<EventEndpointHealth>();
        services.AddSingleton<EventAttempts>();
        services.AddSingleton<IOutboxChannel, EventChannel>();
        services.AddRecurringJob<EventDeliverySweepJob>();
        return services;
    }
}
