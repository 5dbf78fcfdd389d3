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
