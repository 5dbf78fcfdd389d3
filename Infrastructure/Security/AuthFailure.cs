using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

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
