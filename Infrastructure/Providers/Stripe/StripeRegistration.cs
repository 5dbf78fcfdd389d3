using Stripe;

namespace Backstop.Infrastructure.Providers.Stripe;

internal static class StripeRegistration
{
    public static IServiceCollection AddStripe(this IServiceCollection services)
    {
        services.AddHttpClient(StripeApi.HttpClientName, (sp, http) =>
            http.Timeout = TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<StripeOptions>>().Value.TimeoutSeconds));
        services.AddSingleton<StripeApi>();
        return services;
    }
}
