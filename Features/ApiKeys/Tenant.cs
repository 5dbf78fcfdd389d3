using System.Security.Claims;
using Backstop.Infrastructure.Security;

namespace Backstop.Features.ApiKeys;

public static class TenantClaims
{
    /// <summary>The caller's organization; tenant endpoints scope every query by it.</summary>
    public static string OrganizationId(this ClaimsPrincipal user) =>
        user.FindFirstValue(BackstopClaims.OrganizationId) ?? throw new InvalidOperationException("The caller is not a tenant key.");

    public static string KeyId(this ClaimsPrincipal user) =>
        user.FindFirstValue(BackstopClaims.KeyId) ?? throw new InvalidOperationException("The caller is not a tenant key.");
}
