using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox.Email;
using Backstop.Infrastructure.Outbox.Sms;

namespace Backstop.Infrastructure.Outbox;

internal static class OutboxExtensions
{
    /// <summary>The outbox (store, dispatcher, loop, sweep job) with its email and SMS channels.</summary>
    public static IServiceCollection AddOutbox(this IServiceCollection services)
    {
        services.AddCheckedOptions<OutboxOptions>(OutboxOptions.Section);
        services.AddHttpContextAccessor();
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<IOutbox, OutboxStore>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddSingleton<OutboxPendingGauge>();
        services.AddHostedService<OutboxPendingGaugeStartup>();
        services.AddHostedService<OutboxDispatchLoop>();
        services.AddRecurringJob<OutboxSweepJob>();
        services.AddEmailChannel();
        services.AddSmsChannel();
        return services;
    }
}
