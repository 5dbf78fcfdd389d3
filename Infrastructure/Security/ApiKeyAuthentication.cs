using System.Security.Claims;
using System.Text.Encodings.Web;
using Backstop.Infrastructure.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// What a slice plugs in to accept tenant API keys: given the presented bearer token, answer a principal, a failure,
/// or <c>null</c> when the token is not one of its keys.
/// </summary>
public interface IApiKeyAuthenticator
{
    Task<AuthenticateResult?> AuthenticateAsync(string token, HttpContext context, CancellationToken ct);
}

public static class BackstopClaims
{
    public const string Scheme = "ApiKey";
    public const string AdminRole = "admin";
    public const string OrganizationId = "backstop:org";
    public const string KeyId = "backstop:key";
    public const string Scope = "backstop:scope";
}

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c>: the operator's admin key, or a tenant key through the
/// registered <see cref="IApiKeyAuthenticator"/>. Challenges and refusals answer problem+json.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AdminKey adminKey,
    IEnumerable<IApiKeyAuthenticator> authenticators)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string FailureCodeKey = "backstop:auth-failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = BearerToken(Request);
        if (token is null) return AuthenticateResult.NoResult();

        if (token.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) || adminKey.IsConfigured)
        {
            if (adminKey.Matches(token))
            {
                var identity = new ClaimsIdentity(
                    [new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, BackstopClaims.AdminRole)], Scheme.Name);
                return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
            }
        }

        foreach (var authenticator in authenticators)
        {
            var result = await authenticator.AuthenticateAsync(token, Context, Context.RequestAborted);
            if (result is not null) return result;
        }

        return Fail("invalid_api_key", "The API key is not valid.");
    }

    public AuthenticateResult Fail(string code, string message)
    {
        Context.Items[FailureCodeKey] = code;
        return AuthenticateResult.Fail(message);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var result = await Context.AuthenticateAsync(Scheme.Name);
        if (Context.Items[FailureCodeKey] is string code && result.Failure is not null)
            await Problem.WriteAsync(Context, 401, code, result.Failure.Message);
        else
            await Problem.WriteAsync(Context, 401, "unauthorized", "This endpoint needs an API key: send 'Authorization: Bearer <key>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problem.WriteAsync(Context, 403, "forbidden", "This API key is not allowed to use this endpoint.");

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var token = header["Bearer ".Length..].Trim();
        return token.Length is > 0 and <= 512 ? token : null;
    }
}
