using Backstop.Features.ApiKeys.Clerk;
using Backstop.Infrastructure.Inbox;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Features.ApiKeys;

internal static class ApiKeysModule
{
    /// <summary>Organizations, members, tenant API keys, their authentication, the brute-force lockout, and the Clerk handlers that provision organizations and members.</summary>
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
        services.AddSingleton<KeyRateLimits>();
        services.AddRecurringJob<AuthFailuresCleanupJob>();

        // Clerk events provision organizations and members: this slice's state.
        services.AddSingleton<ClerkOrdering>();
        services.AddScoped<IWebhookHandler, ClerkUserCreatedHandler>();
        services.AddScoped<IWebhookHandler, ClerkMembershipCreatedHandler>();
        services.AddScoped<IWebhookHandler, ClerkUserDeletedHandler>();
        return services;
    }
}
