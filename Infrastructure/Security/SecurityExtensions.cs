using Microsoft.AspNetCore.Authentication;

namespace Backstop.Infrastructure.Security;

internal static class SecurityExtensions
{
    public static IServiceCollection AddSecurity(this IServiceCollection services)
    {
        services.AddCheckedOptions<AdminOptions>(AdminOptions.Section);
        services.AddCheckedOptions<SecurityOptions>(SecurityOptions.Section);
        services.AddSingleton<AdminKey>();
        services.AddHostedService<AdminKeyRefresher>();
        services.AddSingleton<ClientIp>();
        services.AddSingleton<HandlerLoggerFactory>();
        services.AddSingleton<BearerKeyAuthentication>();
        services.AddAuthentication(BackstopClaims.Scheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(BackstopClaims.Scheme, null);
        services.AddAuthorizationBuilder().AddBackstopPolicies();
        services.AddDatabaseDataProtection();
        return services;
    }
}
