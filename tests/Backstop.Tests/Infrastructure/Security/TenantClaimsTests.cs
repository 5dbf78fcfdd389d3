using System.Security.Claims;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Security;

namespace Backstop.Tests.Infrastructure.Security;

public sealed class TenantClaimsTests
{
    [Fact]
    public void A_principal_that_is_not_a_tenant_is_refused_with_403_not_a_server_error()
    {
        var admin = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Role, BackstopClaims.AdminRole)], BackstopClaims.Scheme));
        var refused = Should.Throw<ProblemException>(() => admin.OrganizationId());
        refused.Status.ShouldBe(403);
        refused.Code.ShouldBe("organization_key_required");
        Should.Throw<ProblemException>(() => admin.KeyId()).Status.ShouldBe(403);
    }

    [Fact]
    public void A_tenant_principal_names_its_organization_and_key()
    {
        var tenant = new ClaimsPrincipal(new ClaimsIdentity([new Claim(BackstopClaims.OrganizationId, "org-1"), new Claim(BackstopClaims.KeyId, "key-1")], BackstopClaims.Scheme));
        tenant.OrganizationId().ShouldBe("org-1");
        tenant.KeyId().ShouldBe("key-1");
    }
}
