using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// Authorization policies of tenant endpoints. Scopes are ordered: <c>admin</c> includes <c>write</c>, which
/// includes <c>read</c>; a key's claims carry exactly the scopes it was given and the policies apply the order.
/// An authenticated key without the scope gets 403 <c>insufficient_scope</c>.
/// </summary>
internal static class BackstopPolicies
{
    public const string Read = "scope:read";
    public const string Write = "scope:write";
    public const string Admin = "scope:admin";

    public static readonly IReadOnlyList<string> Scopes = ["read", "write", "admin"];

    /// <summary>The scopes that satisfy <paramref name="policy"/>, or null when it is not a scope policy.</summary>
    public static IReadOnlyList<string>? ScopesSatisfying(string policy) => policy switch
    {
        Read => ["read", "write", "admin"],
        Write => ["write", "admin"],
        Admin => ["admin"],
        _ => null,
    };

    public static AuthorizationBuilder AddBackstopPolicies(this AuthorizationBuilder builder)
    {
        foreach (var policy in new[] { Read, Write, Admin })
        {
            var accepted = ScopesSatisfying(policy)!;
            // No AddAuthenticationSchemes: the key scheme is the default one, which the authentication middleware
            // has already run; naming it here made the policy evaluator authenticate (and merge the principal) again.
            builder.AddPolicy(policy, p => p.AddRequirements(new TenantScopeRequirement(accepted)));
        }
        builder.Services.AddTransient<PolicyEvaluator>();
        builder.Services.Replace(ServiceDescriptor.Singleton<IPolicyEvaluator, TenantPolicyEvaluator>());
        return builder;
    }

    /// <summary>
    /// An authenticated organization key holding one of <see cref="Accepted"/>: what RequireAuthenticatedUser and two
    /// RequireClaim requirements asked, checked in one pass over the claims instead of three LINQ walks per request.
    /// </summary>
    internal sealed class TenantScopeRequirement(IReadOnlyList<string> accepted)
        : AuthorizationHandler<TenantScopeRequirement>, IAuthorizationRequirement
    {
        public IReadOnlyList<string> Accepted { get; } = accepted;

        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, TenantScopeRequirement requirement)
        {
            if (requirement.IsSatisfiedBy(context.User)) context.Succeed(requirement);
            return Task.CompletedTask;
        }

        public bool IsSatisfiedBy(System.Security.Claims.ClaimsPrincipal user)
        {
            bool authenticated = false, tenant = false, scoped = false;
            foreach (var identity in user.Identities)
            {
                if (!identity.IsAuthenticated) continue;
                authenticated = true;
                foreach (var claim in identity.Claims)
                {
                    if (claim.Type == BackstopClaims.OrganizationId) tenant = true;
                    else if (claim.Type == BackstopClaims.Scope && Contains(Accepted, claim.Value)) scoped = true;
                }
            }
            return authenticated && tenant && scoped;
        }

        private static bool Contains(IReadOnlyList<string> values, string value)
        {
            for (var i = 0; i < values.Count; i++)
                if (string.Equals(values[i], value, StringComparison.Ordinal)) return true;
            return false;
        }
    }
}

/// <summary>
/// Decides the policies of tenant endpoints without the authorization service: a tenant endpoint's combined policy is
/// a <see cref="BackstopPolicies.TenantScopeRequirement"/> plus FastEndpoints' "authenticated user" requirement, and
/// both are checked here in one pass, with the answers ASP.NET Core's <see cref="PolicyEvaluator"/> gives (success;
/// forbid when the caller is authenticated, else challenge). The authorization service would build a handler context,
/// resolve every registered handler and run each asynchronously, for about a tenth of the CPU of a cached
/// <c>GET /v1/me</c>. Any policy with another requirement (roles, admin endpoints, anything a later slice adds) goes to
/// ASP.NET Core's evaluator as before; so does every authentication.
/// </summary>
internal sealed class TenantPolicyEvaluator : IPolicyEvaluator
{
    // Whether the container holds an authorization handler besides ASP.NET Core's pass-through one (which runs the
    // requirements that are their own handlers): such a handler could decide a tenant requirement too, so then every
    // policy goes to ASP.NET Core's evaluator. Found on first use (handlers may be scoped): 0 unknown, 1 no, 2 yes.
    private int otherHandlers;

    public Task<AuthenticateResult> AuthenticateAsync(AuthorizationPolicy policy, HttpContext context) =>
        Default(context).AuthenticateAsync(policy, context);

    public Task<PolicyAuthorizationResult> AuthorizeAsync(AuthorizationPolicy policy, AuthenticateResult authenticationResult,
        HttpContext context, object? resource)
    {
        if (!IsTenantPolicy(policy) || HasOtherHandlers(context))
            return Default(context).AuthorizeAsync(policy, authenticationResult, context, resource);

        List<IAuthorizationRequirement>? failed = null;
        foreach (var requirement in policy.Requirements)
        {
            var met = requirement is BackstopPolicies.TenantScopeRequirement scope
                ? scope.IsSatisfiedBy(context.User)
                : context.User.Identities.Any(i => i.IsAuthenticated);
            if (!met) (failed ??= []).Add(requirement);
        }
        if (failed is null) return Task.FromResult(PolicyAuthorizationResult.Success());
        return Task.FromResult(authenticationResult.Succeeded
            ? PolicyAuthorizationResult.Forbid(AuthorizationFailure.Failed(failed))
            : PolicyAuthorizationResult.Challenge());
    }

    /// <summary>Only scope requirements and "authenticated user" (whose answer has no handler of its own to consult).</summary>
    internal static bool IsTenantPolicy(AuthorizationPolicy policy)
    {
        var scoped = false;
        foreach (var requirement in policy.Requirements)
        {
            if (requirement is BackstopPolicies.TenantScopeRequirement) scoped = true;
            else if (requirement is not DenyAnonymousAuthorizationRequirement) return false;
        }
        return scoped;
    }

    private bool HasOtherHandlers(HttpContext context)
    {
        var known = Volatile.Read(ref otherHandlers);
        if (known == 0)
        {
            known = context.RequestServices.GetServices<IAuthorizationHandler>().All(h => h is PassThroughAuthorizationHandler) ? 1 : 2;
            Volatile.Write(ref otherHandlers, known);
        }
        return known == 2;
    }

    // Transient like the authorization service it uses, whose handlers may be scoped: resolved per use, never held.
    private static PolicyEvaluator Default(HttpContext context) => context.RequestServices.GetRequiredService<PolicyEvaluator>();
}
