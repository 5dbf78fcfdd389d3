using Microsoft.AspNetCore.Authorization;

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
            builder.AddPolicy(policy, p => p
                .AddAuthenticationSchemes(BackstopClaims.Scheme)
                .RequireAuthenticatedUser()
                .RequireClaim(BackstopClaims.OrganizationId)
                .RequireClaim(BackstopClaims.Scope, accepted));
        }
        return builder;
    }
}
