using System.Threading.RateLimiting;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Outbox.Sms;

internal static class SmsChannelRegistration
{
    public static IServiceCollection AddSmsChannel(this IServiceCollection services)
    {
        services.AddSingleton<SmsRateLimiter>();
        services.AddSingleton<IOutboxChannel, SmsChannel>();
        return services;
    }
}
