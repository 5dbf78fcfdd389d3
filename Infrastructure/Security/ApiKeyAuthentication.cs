using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Backstop.Infrastructure.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// What a slice plugs in to accept tenant API keys: given the presented bearer token, answer a principal, a failure
/// (made with <see cref="AuthFailure.Fail"/>), or <c>null</c> when the token is not one of its keys.
/// </summary>
internal interface IApiKeyAuthenticator
{
    /// <param name="tokenDigest">The token through <see cref="Secrets.Digest(string)"/>, computed once per request for every check.</param>
    Task<AuthenticateResult?> AuthenticateAsync(string token, byte[] tokenDigest, HttpContext context, CancellationToken ct);

    /// <summary>
    /// The public part of the token that failed attempts are counted under together with the client address
    /// (never secret: it is logged), or null when the token is not shaped like this authenticator's keys.
    /// </summary>
    string? PrefixOf(string token) => null;
}

/// <summary>
/// Counts failed authentications in the database, per client address + key prefix and per client address, and
/// answers whether either is locked out. Checked before any key is verified.
/// </summary>
internal interface IAuthLockout
{
    /// <summary>How long the pair or the address stays locked, or null when neither is.</summary>
    Task<TimeSpan?> LockedForAsync(string clientIp, string prefix, CancellationToken ct);

    /// <summary>
    /// Counts one failure. Returns how long the pair or the address stays locked when this failure came after the
    /// limit was reached (it must be answered 429, not 401), or null when it was within the limit. Concurrent failures
    /// are serialised by the database (a row lock on the counter), so of any burst exactly the limit's worth are
    /// answered 401.
    /// </summary>
    Task<TimeSpan?> RecordFailureAsync(string clientIp, string prefix, CancellationToken ct);
}

internal static class BackstopClaims
{
    public const string Scheme = "ApiKey";
    public const string AdminRole = "admin";
    public const string OrganizationId = "backstop:org";
    public const string KeyId = "backstop:key";
    public const string Scope = "backstop:scope";
}

/// <summary>How authenticators fail a request, with a stable problem code.</summary>
internal static class AuthFailure
{
    internal const string CodeKey = "backstop:auth-failure";
    internal const string GuessKey = "backstop:auth-guess";
    internal const string RetryAfterKey = "backstop:auth-retry-after";

    /// <param name="countsAsGuess">
    /// Whether the attempt counts towards the brute-force lockout. A key that proves possession of a real secret
    /// (revoked, expired, of a deleted organization) is no guess; counting it would let one forgotten client with
    /// an old key lock every key of its office's address out.
    /// </param>
    public static AuthenticateResult Fail(HttpContext context, string code, string message, bool countsAsGuess = true)
    {
        context.Items[CodeKey] = code;
        context.Items[GuessKey] = countsAsGuess;
        return AuthenticateResult.Fail(message);
    }
}

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c>: the operator's admin key, or a tenant key through the
/// registered <see cref="IApiKeyAuthenticator"/>. A client address (or address + key prefix) locked out by
/// <see cref="IAuthLockout"/> is refused with 429 before any key is looked at, even a valid one: otherwise the
/// answer would tell an attacker which guess was right. Decides once per request: the result is kept on the request
/// (<see cref="Decided"/>), so the middleware and the scheme's handler (challenges, a policy naming the scheme) share
/// it and a failure is counted once.
/// </summary>
internal sealed class BearerKeyAuthentication(
    AdminKey adminKey,
    ClientIp clientIp,
    IEnumerable<IApiKeyAuthenticator> authenticators,
    IEnumerable<IAuthLockout> lockouts)
{
    public const string LockedOutCode = "api_key_locked_out";

    private readonly IApiKeyAuthenticator[] authenticators = authenticators.ToArray();
    private readonly IAuthLockout? lockout = lockouts.FirstOrDefault();

    /// <summary>This request's decision, made by whichever asked first.</summary>
    private sealed class Decided(Task<AuthenticateResult> result)
    {
        public Task<AuthenticateResult> Result { get; } = result;
    }

    public Task<AuthenticateResult> AuthenticateAsync(HttpContext context)
    {
        if (context.Features.Get<Decided>() is { } decided) return decided.Result;
        var result = DecideAsync(context);
        context.Features.Set(new Decided(result));
        return result;
    }

    private async Task<AuthenticateResult> DecideAsync(HttpContext context)
    {
        var token = ApiKeyAuthenticationHandler.BearerToken(context.Request);
        if (token is null) return AuthenticateResult.NoResult();

        var ip = clientIp.Resolve(context);
        var prefix = PrefixOf(token);
        if (lockout is not null)
        {
            var left = await lockout.LockedForAsync(ip, prefix, context.RequestAborted);
            if (left is { } l) return LockedOut(context, l);
        }

        var result = await VerifyAsync(context, token);
        if (lockout is null) return result;

        // The check above is a read: requests of a concurrent burst all pass it before the limit is reached. So the
        // counter decides again afterwards: a failure beyond the limit, and a success or a non-guess failure once the
        // lock exists, are answered 429 like any attempt after the lock.
        var locked = !result.Succeeded && context.Items[AuthFailure.GuessKey] is true
            // Not cancellable: a client that hangs up right after sending must still be counted.
            ? await lockout.RecordFailureAsync(ip, prefix, CancellationToken.None)
            : await lockout.LockedForAsync(ip, prefix, CancellationToken.None);
        return locked is { } lockedFor ? LockedOut(context, lockedFor) : result;
    }

    private static AuthenticateResult LockedOut(HttpContext context, TimeSpan left)
    {
        context.Items[AuthFailure.RetryAfterKey] = Math.Max(1, (long)Math.Ceiling(left.TotalSeconds));
        return AuthFailure.Fail(context, LockedOutCode,
            "Too many failed authentication attempts from this address; try again later.", countsAsGuess: false);
    }

    private async Task<AuthenticateResult> VerifyAsync(HttpContext context, string token)
    {
        var digest = Secrets.Digest(token);
        if (token.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) || adminKey.IsConfigured)
        {
            if (adminKey.MatchesDigest(digest))
            {
                var identity = new ClaimsIdentity(
                    [new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, BackstopClaims.AdminRole)], BackstopClaims.Scheme);
                return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), BackstopClaims.Scheme));
            }
        }

        foreach (var authenticator in authenticators)
        {
            var result = await authenticator.AuthenticateAsync(token, digest, context, context.RequestAborted);
            if (result is null) continue;
            if (!result.Succeeded && !context.Items.ContainsKey(AuthFailure.CodeKey))
                return AuthFailure.Fail(context, "invalid_api_key", result.Failure?.Message ?? "The API key is not valid.");
            return result;
        }

        return AuthFailure.Fail(context, "invalid_api_key", "The API key is not valid.");
    }

    /// <summary>The token's public prefix for counting failures; never any of its secret part.</summary>
    private string PrefixOf(string token)
    {
        foreach (var authenticator in authenticators)
            if (authenticator.PrefixOf(token) is { } prefix) return prefix;
        return token.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) ? AdminKey.Prefix : "other";
    }
}

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

/// <summary>
/// The logger factory the authentication handler is built with. The handler is created per request and asks its
/// factory for a logger each time; Serilog's factory builds a new logger (with its own caches) per call, which showed
/// up in profiles of authenticated requests. This one hands out one logger per category.
/// </summary>
internal sealed class HandlerLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ILogger> loggers = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) => loggers.GetOrAdd(categoryName, inner.CreateLogger);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The inner factory belongs to the host, which disposes it.
    public void Dispose()
    {
    }
}

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
