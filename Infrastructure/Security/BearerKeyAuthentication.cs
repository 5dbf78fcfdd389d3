using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

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
