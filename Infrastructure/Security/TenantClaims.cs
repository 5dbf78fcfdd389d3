using System.Security.Claims;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// The one way an endpoint reads its tenant. Tenant endpoints are guarded by the scope policies, which require an
/// organization claim; a principal without one (the operator's admin key, should an endpoint forget its policy) is
/// refused with 403, never a server error.
/// </summary>
internal static class TenantClaims
{
    /// <summary>The caller's organization; tenant endpoints scope every query by it.</summary>
    public static string OrganizationId(this ClaimsPrincipal user) =>
        user.FindFirstValue(BackstopClaims.OrganizationId) ?? throw NotATenant();

    public static string KeyId(this ClaimsPrincipal user) =>
        user.FindFirstValue(BackstopClaims.KeyId) ?? throw NotATenant();

    private static ProblemException NotATenant() =>
        new(403, "organization_key_required", "This endpoint needs an organization's API key; the admin key manages organizations under /v1/admin.");
}
