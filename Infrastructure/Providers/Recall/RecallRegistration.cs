using Backstop.Infrastructure.Outbox.Recall;

namespace Backstop.Infrastructure.Providers.Recall;

internal static class RecallRegistration
{
    /// <summary>The Recall client, the recording downloader and the outbox's <c>recall</c> channel.</summary>
    public static IServiceCollection AddRecall(this IServiceCollection services)
    {
        services.AddCheckedOptions<RecallOptions>(RecallOptions.Section);
        services.AddHttpClient<RecallClient>((sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<RecallOptions>>().Value;
            http.BaseAddress = o.BaseAddress;
            http.Timeout = TimeSpan.FromSeconds(o.TimeoutSeconds);
        });
        // Recordings are large: the downloader's own budget (Recall:DownloadTimeoutMinutes, on the app's clock) bounds a
        // copy, and redirects are followed by the downloader itself, only to the same host.
        services.AddHttpClient<RecordingDownloader>(http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        services.AddSingleton<IOutboxChannel, RecallChannel>();
        return services;
    }
}
