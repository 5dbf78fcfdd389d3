namespace Backstop.Infrastructure.Providers.Deepgram;

internal static class DeepgramRegistration
{
    public static IServiceCollection AddDeepgram(this IServiceCollection services)
    {
        services.AddCheckedOptions<DeepgramOptions>(DeepgramOptions.Section);
        // Transcripts come back to {PublicBaseUrl}/webhooks/deepgram: without it a configured Deepgram would store
        // recordings and never transcribe them, a half-configured provider.
        services.AddConfigurationRule(c =>
            !string.IsNullOrWhiteSpace(c["Deepgram:ApiKey"]) && string.IsNullOrWhiteSpace(c[ProvidersExtensions.PublicBaseUrl])
                ? ["PublicBaseUrl is required when Deepgram:ApiKey is set (Deepgram posts transcripts to {PublicBaseUrl}/webhooks/deepgram)."]
                : []);
        services.AddHttpClient<DeepgramClient>((sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<DeepgramOptions>>().Value;
            http.BaseAddress = new Uri(o.BaseUrl.TrimEnd('/') + "/");
            http.Timeout = TimeSpan.FromSeconds(o.TimeoutSeconds);
        });
        return services;
    }
}
