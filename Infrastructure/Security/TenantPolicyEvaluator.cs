using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Backstop.Infrastructure.Security;

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
