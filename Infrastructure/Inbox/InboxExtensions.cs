using Backstop.Features.Webhooks.Clerk;
using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.Webhooks;

public static class WebhooksModule
{
    /// <summary>The webhook inbox: provider settings, signature checks, the inbox and its jobs, and the Clerk handlers.</summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddCheckedOptions<WebhooksOptions>(WebhooksOptions.Section);
        services.AddCheckedOptions<StripeWebhookOptions>(StripeWebhookOptions.Section);
        services.AddCheckedOptions<ClerkWebhookOptions>(ClerkWebhookOptions.Section);
        services.AddCheckedOptions<RecallWebhookOptions>(RecallWebhookOptions.Section);
        services.AddCheckedOptions<DeepgramWebhookOptions>(DeepgramWebhookOptions.Section);
        services.AddCheckedOptions<PaddleWebhookOptions>(PaddleWebhookOptions.Section);
        services.AddCheckedOptions<TwilioWebhookOptions>(TwilioWebhookOptions.Section);

        services.AddSingleton<WebhookProviders>();
        services.AddSingleton<WebhookInbox>();
        services.AddRecurringJob<WebhookInboxJob>();
        services.AddRecurringJob<WebhookRetentionJob>();

        services.AddSingleton<ClerkOrdering>();
        services.AddScoped<IWebhookHandler, ClerkUserCreatedHandler>();
        services.AddScoped<IWebhookHandler, ClerkMembershipCreatedHandler>();
        services.AddScoped<IWebhookHandler, ClerkUserDeletedHandler>();
        return services;
    }
}
