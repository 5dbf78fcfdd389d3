using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// The <see cref="BackstopClaims.Scheme"/> scheme: authenticates through <see cref="BearerKeyAuthentication"/> (the
/// request's one decision) and answers challenges and refusals with problem+json.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    HandlerLoggerFactory logger,
    UrlEncoder encoder,
    BearerKeyAuthentication authentication)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => authentication.AuthenticateAsync(Context);

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await Context.AuthenticateAsync(Scheme.Name);
        if (Context.Items[AuthFailure.CodeKey] is BearerKeyAuthentication.LockedOutCode && Context.Items[AuthFailure.RetryAfterKey] is long seconds)
        {
            await Problem.WriteAsync(Context, 429, BearerKeyAuthentication.LockedOutCode, result.Failure?.Message ?? "Locked out.",
                headers: new Dictionary<string, string> { ["Retry-After"] = seconds.ToString(CultureInfo.InvariantCulture) });
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        if (Context.Items[AuthFailure.CodeKey] is string code && result.Failure is not null)
            await Problem.WriteAsync(Context, 401, code, result.Failure.Message);
        else
            await Problem.WriteAsync(Context, 401, "unauthorized", "This endpoint needs an API key: send 'Authorization: Bearer <key>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var missing = MissingScope();
        if (missing is not null && Context.User.IsInRole(BackstopClaims.AdminRole))
            return Problem.WriteAsync(Context, 403, "organization_key_required",
                "This endpoint needs an organization's API key; the admin key manages organizations under /v1/admin.");
        return missing is null
            ? Problem.WriteAsync(Context, 403, "forbidden", "This API key is not allowed to use this endpoint.")
            : Problem.WriteAsync(Context, 403, "insufficient_scope", $"This API key lacks the '{missing}' scope this endpoint needs.");
    }

    /// <summary>The scope a scope policy of this endpoint asks for and the caller's key does not have.</summary>
    private string? MissingScope()
    {
        var policies = Context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).OfType<string>() ?? [];
        foreach (var policy in policies)
        {
            var accepted = BackstopPolicies.ScopesSatisfying(policy);
            if (accepted is not null && !accepted.Any(s => Context.User.HasClaim(BackstopClaims.Scope, s)))
                return policy["scope:".Length..];
        }
        return null;
    }

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header["Bearer ".Length..].Trim();
        return token.Length is > 0 and <= 512 ? token : null;
    }
}
