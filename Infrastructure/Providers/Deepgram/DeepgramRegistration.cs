using Backstop.Infrastructure.Configuration;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Providers.Deepgram;

public static class DeepgramRegistration
{
    public static IServiceCollection AddDeepgram(this IServiceCollection services)
    {
        services.AddCheckedOptions<DeepgramOptions>(DeepgramOptions.Section);
        services.AddHttpClient<DeepgramClient>((sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<DeepgramOptions>>().Value;
            http.BaseAddress = new Uri(o.BaseUrl.TrimEnd('/') + "/");
            http.Timeout = TimeSpan.FromSeconds(o.TimeoutSeconds);
        });
        return services;
    }
}
