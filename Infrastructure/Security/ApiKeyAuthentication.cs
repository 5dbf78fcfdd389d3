using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Backstop.Infrastructure.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
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
/// answer would tell an attacker which guess was right. Challenges and refusals answer problem+json.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    HandlerLoggerFactory logger,
    UrlEncoder encoder,
    AdminKey adminKey,
    ClientIp clientIp,
    IEnumerable<IApiKeyAuthenticator> authenticators,
    IEnumerable<IAuthLockout> lockouts)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string LockedOutCode = "api_key_locked_out";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = BearerToken(Request);
        if (token is null) return AuthenticateResult.NoResult();

        var ip = clientIp.Resolve(Context);
        var prefix = PrefixOf(token);
        var lockout = lockouts.FirstOrDefault();
        if (lockout is not null)
        {
            var left = await lockout.LockedForAsync(ip, prefix, Context.RequestAborted);
            if (left is { } l) return LockedOut(l);
        }

        var result = await VerifyAsync(token);
        if (lockout is null) return result;

        // The check above is a read: requests of a concurrent burst all pass it before the limit is reached. So the
        // counter decides again afterwards: a failure beyond the limit, and a success or a non-guess failure once the
        // lock exists, are answered 429 like any attempt after the lock.
        var locked = !result.Succeeded && Context.Items[AuthFailure.GuessKey] is true
            // Not cancellable: a client that hangs up right after sending must still be counted.
            ? await lockout.RecordFailureAsync(ip, prefix, CancellationToken.None)
            : await lockout.LockedForAsync(ip, prefix, CancellationToken.None);
        return locked is { } lockedFor ? LockedOut(lockedFor) : result;
    }

    private AuthenticateResult LockedOut(TimeSpan left)
    {
        Context.Items[AuthFailure.RetryAfterKey] = Math.Max(1, (long)Math.Ceiling(left.TotalSeconds));
        return AuthFailure.Fail(Context, LockedOutCode,
            "Too many failed authentication attempts from this address; try again later.", countsAsGuess: false);
    }

    private async Task<AuthenticateResult> VerifyAsync(string token)
    {
        var digest = Secrets.Digest(token);
        if (token.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) || adminKey.IsConfigured)
        {
            if (adminKey.MatchesDigest(digest))
            {
                var identity = new ClaimsIdentity(
                    [new Claim(ClaimTypes.Name, "admin"), new Claim(ClaimTypes.Role, BackstopClaims.AdminRole)], Scheme.Name);
                return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
            }
        }

        foreach (var authenticator in authenticators)
        {
            var result = await authenticator.AuthenticateAsync(token, digest, Context, Context.RequestAborted);
            if (result is null) continue;
            if (!result.Succeeded && !Context.Items.ContainsKey(AuthFailure.CodeKey))
                return AuthFailure.Fail(Context, "invalid_api_key", result.Failure?.Message ?? "The API key is not valid.");
            return result;
        }

        return AuthFailure.Fail(Context, "invalid_api_key", "The API key is not valid.");
    }

    /// <summary>The token's public prefix for counting failures; never any of its secret part.</summary>
    private string PrefixOf(string token)
    {
        foreach (var authenticator in authenticators)
            if (authenticator.PrefixOf(token) is { } prefix) return prefix;
        return token.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) ? AdminKey.Prefix : "other";
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await Context.AuthenticateAsync(Scheme.Name);
        if (Context.Items[AuthFailure.CodeKey] is LockedOutCode && Context.Items[AuthFailure.RetryAfterKey] is long seconds)
        {
            await Problem.WriteAsync(Context, 429, LockedOutCode, result.Failure?.Message ?? "Locked out.",
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
