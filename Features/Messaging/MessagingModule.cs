using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Outbox.Sms;

namespace Backstop.Features.Messaging;

internal static class MessagingModule
{
    /// <summary>SMS sending and status, consent (STOP/START/HELP), one-time codes. Needs <c>AddOutbox()</c>.</summary>
    public static IServiceCollection AddMessaging(this IServiceCollection services)
    {
        services.AddCheckedOptions<MessagingOptions>(MessagingOptions.Section);
        services.AddSingleton<PhoneNumberNormalizer>();
        services.AddSingleton<SmsDestinations>();
        services.AddSingleton<SendRateLimits>();
        services.AddSingleton<SmsQueue>();
        services.AddSingleton<ISmsSendGuard, SmsSendGuard>();
        services.AddSingleton<OneTimeCodes>();
        services.AddSingleton<IOutboxListener, SmsDeliveryListener>();
        services.AddSingleton<MessagingOrganizationData>();
        services.AddSingleton<Features.ApiKeys.IOrganizationDeletionListener>(sp => sp.GetRequiredService<MessagingOrganizationData>());
        services.AddSingleton<Features.ApiKeys.IOrganizationDataReport>(sp => sp.GetRequiredService<MessagingOrganizationData>());
        services.AddScoped<IWebhookHandler, InboundSmsHandler>();
        services.AddScoped<IWebhookHandler, SmsStatusHandler>();
        services.AddSingleton<IWebhookReply, InboundSmsReply>();
        services.AddRecurringJob<MessagingCleanupJob>();
        return services;
    }
}
