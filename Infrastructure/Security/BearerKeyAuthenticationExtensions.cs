using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

internal static class BearerKeyAuthenticationExtensions
{
    /// <summary>
    /// In place of <c>UseAuthentication</c>: sets <c>HttpContext.User</c> and the authentication result features as
    /// ASP.NET Core's authentication middleware does, from <see cref="BearerKeyAuthentication"/> directly. That
    /// middleware resolves the authentication service, a handler provider and a new handler (with its options and
    /// logger) for every request, for a tenth of the CPU of a cached <c>GET /v1/me</c>. The scheme stays registered
    /// and default, so challenges, refusals and any policy naming it still go through its handler, which answers the
    /// same decision.
    /// </summary>
    public static IApplicationBuilder UseBackstopAuthentication(this IApplicationBuilder app)
    {
        // WebApplication adds ASP.NET Core's authentication middleware in front of the pipeline unless this property
        // (UseAuthentication's own marker) says one is there. Were it ever added anyway, the two would share the
        // request's decision (a failure is still counted once), and only the cost would come back.
        app.Properties["__AuthenticationMiddlewareSet"] = true;
        var authentication = app.ApplicationServices.GetRequiredService<BearerKeyAuthentication>();
        // A claims transformation (none is registered today) runs in the authentication service: with one, go through
        // it, as ASP.NET Core's middleware would, so that the principal is the one every other path sees.
        bool transformed;
        using (var scope = app.ApplicationServices.CreateScope())
            transformed = scope.ServiceProvider.GetServices<IClaimsTransformation>().Any(t => t is not NoopClaimsTransformation);
        return app.Use(async (context, next) =>
        {
            var result = transformed ? await context.AuthenticateAsync(BackstopClaims.Scheme) : await authentication.AuthenticateAsync(context);
            if (result.Principal is not null) context.User = result.Principal;
            if (result.Succeeded)
            {
                var features = new AuthenticatedRequest(result);
                context.Features.Set<IHttpAuthenticationFeature>(features);
                context.Features.Set<IAuthenticateResultFeature>(features);
            }
            await next(context);
        });
    }

    /// <summary>The two features the authentication middleware sets for an authenticated request, with its semantics.</summary>
    private sealed class AuthenticatedRequest(AuthenticateResult result) : IAuthenticateResultFeature, IHttpAuthenticationFeature
    {
        private AuthenticateResult? result = result;
        private ClaimsPrincipal? user = result.Principal;

        public AuthenticateResult? AuthenticateResult
        {
            get => result;
            set
            {
                result = value;
                user = value?.Principal;
            }
        }

        public ClaimsPrincipal? User
        {
            get => user;
            set
            {
                user = value;
                result = null;
            }
        }
    }
}
