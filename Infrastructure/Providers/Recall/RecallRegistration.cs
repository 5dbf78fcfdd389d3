using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Outbox;
using Backstop.Infrastructure.Outbox.Recall;
using Microsoft.Extensions.Options;

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
        // Recordings are large; a copy that outlives the outbox lease may be repeated by another instance, which only
        // overwrites the same object.
        services.AddHttpClient<RecordingDownloader>(http => http.Timeout = TimeSpan.FromMinutes(30));
        services.AddSingleton<IOutboxChannel, RecallChannel>();
        return services;
    }
}
