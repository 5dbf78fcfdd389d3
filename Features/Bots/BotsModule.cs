using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Storage;

namespace Backstop.Features.Bots;

internal static class BotsModule
{
    /// <summary>Meetings and their Recall bots, the recording pipeline (storage, Deepgram) and the slice's webhook handlers.</summary>
    public static IServiceCollection AddBots(this IServiceCollection services)
    {
        services.AddStorage();
        services.AddSingleton<Meetings>();
        services.AddSingleton<IMeetingUsage, MeetingUsage>();
        services.AddSingleton<BotStarter>();
        services.AddSingleton<BotMinutes>();
        services.AddSingleton<MeetingEvents>();
        services.AddRecurringJob<BotPipelineRepairJob>();
        services.AddSingleton<BotCompensation>();
        services.AddSingleton<IMeetingSweeps, MeetingSweeps>();
        services.AddSingleton<IMeetingOverview, MeetingOverviewQuery>();
        services.AddSingleton<BotsOrganizationData>();
        services.AddSingleton<Features.ApiKeys.IOrganizationDeletionListener>(sp => sp.GetRequiredService<BotsOrganizationData>());
        services.AddSingleton<Features.ApiKeys.IOrganizationDataReport>(sp => sp.GetRequiredService<BotsOrganizationData>());
        services.AddSingleton<IOutboxChannel, RecordingPipeline>();
        services.AddScoped<IWebhookHandler, RecallStatusHandler>();
        services.AddScoped<IWebhookHandler, DeepgramCallbackHandler>();
        services.AddSingleton<IDeepgramCallbackTokens, TranscriptionTokens>();
        return services;
    }
}
