using Backstop.Infrastructure.Jobs;

namespace Backstop.Infrastructure.Inbox;

internal static class InboxExtensions
{
    /// <summary>The webhook inbox engine: its settings, the signature dispatch per route, the inbox and its jobs.
    /// Slices add handlers (<see cref="IWebhookHandler"/>); provider settings come from <c>AddProviders</c>.</summary>
    public static IServiceCollection AddInbox(this IServiceCollection services)
    {
        services.AddCheckedOptions<WebhooksOptions>(WebhooksOptions.Section);
        services.AddSingleton<WebhookProviders>();
        services.AddSingleton<WebhookInbox>();
        services.AddSingleton<WebhookGroupCommit>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookGroupCommit>());
        services.AddRecurringJob<WebhookInboxJob>();
        services.AddRecurringJob<WebhookRetentionJob>();
        services.AddSingleton<WebhookReplays>();
        services.AddSingleton<IWebhookReplays>(sp => sp.GetRequiredService<WebhookReplays>());
        services.AddRecurringJob<WebhookReplayJob>();
        return services;
    }
}
