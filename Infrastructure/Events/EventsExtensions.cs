namespace Backstop.Infrastructure.Events;

internal static class EventsExtensions
{
    /// <summary>Outbound events: the publisher every slice writes its events with.</summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddSingleton<IEventPublisher, EventPublisher>();
        return services;
    }
}
