using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Security;

namespace Backstop.Features.ApiKeys;

public static class ApiKeysModule
{
    /// <summary>Organizations, members, tenant API keys, their authentication and the brute-force lockout.</summary>
    public static IServiceCollection AddApiKeys(this IServiceCollection services)
    {
        services.AddCheckedOptions<ApiKeysOptions>(ApiKeysOptions.Section);
        services.AddCheckedOptions<LockoutOptions>(LockoutOptions.Section);
        services.AddSingleton<OrganizationStore>();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<IOrganizationDirectory, OrganizationDirectory>();
        services.AddSingleton<ApiKeyCache>();
        services.AddSingleton<IApiKeyAuthenticator, ApiKeyAuthenticator>();
        services.AddSingleton<IAuthLockout, AuthLockout>();
        services.AddRecurringJob<AuthFailuresCleanupJob>();
        return services;
    }
}
