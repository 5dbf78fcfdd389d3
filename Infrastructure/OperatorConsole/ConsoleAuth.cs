using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// The console's own authentication: a cookie session opened by <c>/console/sign-in</c> with the admin key or an
/// operator key. The scheme is never the default one, so <c>/v1</c> never reads the cookie (a browser's ambient
/// cookie can never act on the API) and the API's bearer keys never open the console: only the console's endpoints
/// name this scheme in their policies.
/// </summary>
internal static class ConsoleAuth
{
    public const string Scheme = "Console";
    public const string CookieName = "backstop_console";

    /// <summary>The session ends after this long without a request (every request renews it).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(8);

    public const string RoleClaim = "backstop:console-role";
    public const string KeyIdClaim = "backstop:operator-key";
    /// <summary>The key id of a session opened with the admin key (which is no row of <c>operator_keys</c>).</summary>
    public const string AdminKeyId = "admin-key";

    /// <summary>Any signed-in operator: sees every page.</summary>
    public const string ViewPolicy = "console";
    /// <summary>An operator whose key has the admin role: may act (every console POST but sign-out).</summary>
    public const string ActPolicy = "console-act";

    public static ClaimsPrincipal PrincipalOf(string keyId, string name, string role) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(RoleClaim, role), new Claim(KeyIdClaim, keyId)], Scheme));

    public static bool CanAct(ClaimsPrincipal? user) => user?.HasClaim(RoleClaim, OperatorRoles.Admin) == true;

    /// <summary>What the audit log shows as the actor of a console request: the operator key's name.</summary>
    public static string? ActorOf(ClaimsPrincipal? user) =>
        user?.Identity is { IsAuthenticated: true, AuthenticationType: Scheme, Name: { } name } ? "console:" + name : null;

    public static IServiceCollection AddConsoleAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication().AddCookie(Scheme, o =>
        {
            o.Cookie = new ConsoleCookie
            {
                Name = CookieName,
                Path = "/console",
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                IsEssential = true,
            };
            o.ExpireTimeSpan = IdleTimeout;
            // Renewed on every request (below) instead: sliding expiration renews only past half the span, which would
            // make the idle timeout anything between 4 and 8 hours.
            o.SlidingExpiration = false;
            o.LoginPath = "/console/sign-in";
            o.LogoutPath = "/console/sign-out";
            o.ReturnUrlParameter = "returnUrl";
            o.Events.OnValidatePrincipal = ValidateAsync;
            o.Events.OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
            o.Events.OnRedirectToLogin = context =>
            {
                // A page sends the browser to sign in; a form posted without a session is refused.
                if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                    context.Response.Redirect(context.RedirectUri);
                else
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Task.CompletedTask;
            };
        });
        // The handler's clock is the application's (tests move it to expire an idle session).
        services.AddOptions<CookieAuthenticationOptions>(Scheme).Configure<TimeProvider>((o, time) => o.TimeProvider = time);
        services.AddAuthorizationBuilder()
            .AddPolicy(ViewPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser()
                .RequireClaim(RoleClaim, OperatorRoles.All))
            .AddPolicy(ActPolicy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser()
                .RequireClaim(RoleClaim, OperatorRoles.Admin));
        return services;
    }

    /// <summary>Every request: the operator key must still be live (a revocation ends its sessions), and the session is renewed.</summary>
    private static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var keyId = context.Principal?.FindFirstValue(KeyIdClaim);
        if (keyId is null)
        {
            context.RejectPrincipal();
            return;
        }
        if (keyId != AdminKeyId)
        {
            var store = context.HttpContext.RequestServices.GetRequiredService<OperatorKeyStore>();
            if (await store.FindLiveAsync(keyId, context.HttpContext.RequestAborted) is null)
            {
                context.RejectPrincipal();
                await context.HttpContext.SignOutAsync(Scheme);
                return;
            }
        }
        context.ShouldRenew = true;
    }

    /// <summary>Secure everywhere but on a loopback host, where browsers and tests speak plain HTTP to the service.</summary>
    private sealed class ConsoleCookie : CookieBuilder
    {
        public override CookieOptions Build(HttpContext context, DateTimeOffset expiresFrom)
        {
            var options = base.Build(context, expiresFrom);
            options.Secure = context.Request.IsHttps || !IsLoopback(context.Request.Host.Host);
            return options;
        }
    }

    internal static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
