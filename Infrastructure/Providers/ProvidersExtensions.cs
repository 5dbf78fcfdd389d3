using Backstop.Infrastructure.Providers.Clerk;
using Backstop.Infrastructure.Providers.Deepgram;
using Backstop.Infrastructure.Providers.Paddle;
using Backstop.Infrastructure.Providers.Recall;
using Backstop.Infrastructure.Providers.Stripe;
using Backstop.Infrastructure.Providers.Twilio;

namespace Backstop.Infrastructure.Providers;

internal static class ProvidersExtensions
{
    /// <summary>The top-level setting: this service's address as providers reach it; callback URLs are built from it.</summary>
    public const string PublicBaseUrl = "PublicBaseUrl";

    /// <summary>
    /// Every third party's settings (one options class per configuration section) and clients. A provider is
    /// enabled by configuring it; its settings are checked at start-up with the others.
    /// </summary>
    public static IServiceCollection AddProviders(this IServiceCollection services)
    {
        services.AddCheckedOptions<StripeOptions>(StripeOptions.Section);
        services.AddSettingAlias<StripeOptions>(StripeOptions.Section, "ApiBase", nameof(StripeOptions.BaseUrl));
        services.AddStripe();
        services.AddCheckedOptions<ClerkOptions>(ClerkOptions.Section);
        services.AddRecall();
        services.AddDeepgram();
        services.AddCheckedOptions<PaddleOptions>(PaddleOptions.Section);
        services.AddHttpClient<PaddleClient>((sp, http) =>
        {
            http.BaseAddress = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<PaddleOptions>>().Value.BaseAddress;
            http.Timeout = PaddleOptions.Timeout;
        });
        services.AddTwilio();
        services.AddConfigurationRule(c =>
            c[PublicBaseUrl] is { Length: > 0 } url && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                ? [$"PublicBaseUrl must be an absolute http(s) URL (got '{url}')."]
                : []);
        return services;
    }
}
