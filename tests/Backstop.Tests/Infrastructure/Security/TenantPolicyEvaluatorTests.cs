using System.Security.Claims;
using Backstop.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Security;

/// <summary>
/// The tenant policies are decided without the authorization service (<see cref="TenantPolicyEvaluator"/>); whatever
/// the caller, the answer must be the one ASP.NET Core's own evaluator gives, and any other policy must go to it.
/// </summary>
public sealed class TenantPolicyEvaluatorTests
{
    private static ServiceProvider Services()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddAuthorizationBuilder().AddBackstopPolicies();
        return services.BuildServiceProvider();
    }

    private static ClaimsPrincipal Principal(bool authenticated, params Claim[] claims) =>
        new(new ClaimsIdentity(claims, authenticated ? BackstopClaims.Scheme : null));

    private static IEnumerable<(string Name, ClaimsPrincipal User)> Callers()
    {
        Claim Org() => new(BackstopClaims.OrganizationId, "org-1");
        Claim Scope(string s) => new(BackstopClaims.Scope, s);
        yield return ("nobody", new ClaimsPrincipal(new ClaimsIdentity()));
        yield return ("admin key", Principal(true, new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, BackstopClaims.AdminRole)));
        yield return ("read key", Principal(true, Org(), Scope("read")));
        yield return ("write key", Principal(true, Org(), Scope("write")));
        yield return ("admin-scoped key", Principal(true, Org(), Scope("admin")));
        yield return ("read and write key", Principal(true, Org(), Scope("read"), Scope("write")));
        yield return ("scopes without an organization", Principal(true, Scope("admin")));
        yield return ("an organization without scopes", Principal(true, Org()));
        yield return ("unauthenticated claims", Principal(false, Org(), Scope("admin")));
        yield return ("an unknown scope", Principal(true, Org(), Scope("READ")));
    }

    [Fact]
    public async Task Every_caller_gets_the_answer_of_aspnet_cores_evaluator_for_every_policy()
    {
        await using var services = Services();
        var evaluator = services.GetRequiredService<IPolicyEvaluator>();
        evaluator.ShouldBeOfType<TenantPolicyEvaluator>();
        var provider = services.GetRequiredService<IAuthorizationPolicyProvider>();
        var authenticated = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();

        var policies = new List<(string Name, AuthorizationPolicy Policy, bool Fast)>();
        foreach (var name in new[] { BackstopPolicies.Read, BackstopPolicies.Write, BackstopPolicies.Admin })
        {
            var scope = (await provider.GetPolicyAsync(name)).ShouldNotBeNull();
            policies.Add((name, scope, true));
            // What FastEndpoints makes of Policies(...): the scope policy and its own "authenticated user" policy.
            policies.Add((name + " + authenticated", AuthorizationPolicy.Combine(scope, authenticated), true));
            policies.Add((name + " + admin role", AuthorizationPolicy.Combine(scope, new AuthorizationPolicyBuilder().RequireRole(BackstopClaims.AdminRole).Build()), false));
        }
        policies.Add(("admin role", new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireRole(BackstopClaims.AdminRole).Build(), false));
        policies.Add(("authenticated only", authenticated, false));

        var compared = 0;
        foreach (var (policyName, policy, fast) in policies)
        {
            TenantPolicyEvaluator.IsTenantPolicy(policy).ShouldBe(fast, policyName);
            foreach (var (callerName, user) in Callers())
            {
                var results = user.Identity?.IsAuthenticated == true
                    ? new[] { AuthenticateResult.Success(new AuthenticationTicket(user, BackstopClaims.Scheme)) }
                    : [AuthenticateResult.NoResult(), AuthenticateResult.Fail("invalid")];
                foreach (var authentication in results)
                {
                    await using var scope = services.CreateAsyncScope();
                    var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider, User = user };
                    var ours = await evaluator.AuthorizeAsync(policy, authentication, context, context);
                    var theirs = await scope.ServiceProvider.GetRequiredService<PolicyEvaluator>().AuthorizeAsync(policy, authentication, context, context);
                    var what = $"{policyName}, {callerName}, authentication {(authentication.Succeeded ? "succeeded" : authentication.None ? "none" : "failed")}";
                    (ours.Succeeded, ours.Challenged, ours.Forbidden).ShouldBe((theirs.Succeeded, theirs.Challenged, theirs.Forbidden), what);
                    if (ours.Forbidden) ours.AuthorizationFailure.ShouldNotBeNull(what).FailedRequirements.ShouldNotBeEmpty(what);
                    compared++;
                }
            }
        }
        compared.ShouldBeGreaterThan(100);
    }
}

/// <summary>A handler that refuses every requirement: one registered beside the tenant policies must still be consulted.</summary>
internal sealed class RefuseEverything : IAuthorizationHandler
{
    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        context.Fail();
        return Task.CompletedTask;
    }
}

public sealed class TenantPolicyEvaluatorWithOtherHandlersTests
{
    [Fact]
    public async Task Another_registered_authorization_handler_sends_tenant_policies_to_aspnet_cores_evaluator()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddAuthorizationBuilder().AddBackstopPolicies();
        services.AddScoped<IAuthorizationHandler, RefuseEverything>();
        await using var provider = services.BuildServiceProvider();
        var policy = (await provider.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(BackstopPolicies.Read)).ShouldNotBeNull();
        var user = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(BackstopClaims.OrganizationId, "org-1"), new Claim(BackstopClaims.Scope, "read")], BackstopClaims.Scheme));
        var authentication = AuthenticateResult.Success(new AuthenticationTicket(user, BackstopClaims.Scheme));

        for (var i = 0; i < 2; i++)
        {
            await using var scope = provider.CreateAsyncScope();
            var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider, User = user };
            var result = await provider.GetRequiredService<IPolicyEvaluator>().AuthorizeAsync(policy, authentication, context, context);
            result.Succeeded.ShouldBeFalse();
            result.Forbidden.ShouldBeTrue();
        }
    }
}

/// <summary>The service's own tenant endpoints really take the short path (FastEndpoints' policy shape is what the evaluator expects).</summary>
public sealed class TenantEndpointPolicyTests(SqliteApp<DefaultSetup> app) : AppTest(app), IClassFixture<SqliteApp<DefaultSetup>>
{
    [Fact]
    public async Task A_tenant_endpoints_policy_is_decided_by_the_tenant_evaluator_and_an_admin_endpoints_is_not()
    {
        var provider = App.Services.GetRequiredService<IAuthorizationPolicyProvider>();
        var endpoints = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();

        async Task<AuthorizationPolicy> PolicyOf(string route, string method)
        {
            var endpoint = endpoints.Single(e => e.RoutePattern.RawText?.TrimStart('/') == route.TrimStart('/')
                && e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods.Contains(method) == true);
            return (await AuthorizationPolicy.CombineAsync(provider, endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>(),
                endpoint.Metadata.GetOrderedMetadata<AuthorizationPolicy>())).ShouldNotBeNull(route);
        }

        TenantPolicyEvaluator.IsTenantPolicy(await PolicyOf("/v1/me", "GET")).ShouldBeTrue();
        TenantPolicyEvaluator.IsTenantPolicy(await PolicyOf("/v1/api-keys", "GET")).ShouldBeTrue();
        TenantPolicyEvaluator.IsTenantPolicy(await PolicyOf("/v1/admin/organizations", "GET")).ShouldBeFalse();
    }
}
