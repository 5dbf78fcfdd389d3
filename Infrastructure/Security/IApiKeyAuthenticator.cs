using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

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
