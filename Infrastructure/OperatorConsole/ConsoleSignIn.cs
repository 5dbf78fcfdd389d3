using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>
/// Sign-in with a key typed into the console: the admin key or a live operator key, under the same brute-force
/// lockout as API keys (<see cref="IAuthLockout"/>: the same counters per client address + key prefix and per client
/// address, so guesses through the console and through the API add up).
/// </summary>
internal sealed class ConsoleSignIn(AdminKey adminKey, OperatorKeyStore operatorKeys, ClientIp clientIp, IEnumerable<IAuthLockout> lockouts, IAuditLog audit,
    ILogger<ConsoleSignIn> log)
{
    private readonly IAuthLockout? lockout = lockouts.FirstOrDefault();

    internal abstract record Outcome;
    internal sealed record SignedIn(ClaimsPrincipal Principal) : Outcome;
    internal sealed record Refused : Outcome;
    internal sealed record LockedOut(long RetryAfterSeconds) : Outcome;

    public async Task<Outcome> SignInAsync(HttpContext context, string? typed)
    {
        var key = (typed ?? "").Trim();
        var ip = clientIp.Resolve(context);
        var prefix = key.StartsWith(OperatorKeyStore.KeyPrefix, StringComparison.Ordinal) ? OperatorKeyStore.KeyPrefix
            : key.StartsWith(AdminKey.Prefix, StringComparison.Ordinal) ? AdminKey.Prefix : "other";
        if (lockout is not null && await lockout.LockedForAsync(ip, prefix, CancellationToken.None) is { } locked) return Locked(locked);

        var principal = key.Length is 0 or > 512 ? null : await VerifyAsync(key);
        if (principal is null)
        {
            log.LogWarning("Console sign-in refused for client {ClientIp}", ip);
            // Not cancellable: a client that hangs up right after posting must still be counted.
            if (lockout is not null && await lockout.RecordFailureAsync(ip, prefix, CancellationToken.None) is { } after) return Locked(after);
            return new Refused();
        }
        // As for API keys: once the pair or address is locked, even a right key is refused (else the answer tells a guess was right).
        if (lockout is not null && await lockout.LockedForAsync(ip, prefix, CancellationToken.None) is { } lockedNow) return Locked(lockedNow);

        await audit.RecordAsync(new AuditEntry(AuditActions.ConsoleSignIn, "operator_key", principal.FindFirstValue(ConsoleAuth.KeyIdClaim)!,
            Changes: new { role = principal.FindFirstValue(ConsoleAuth.RoleClaim) }, Actor: "console:" + principal.Identity!.Name), CancellationToken.None);
        await context.SignInAsync(ConsoleAuth.Scheme, principal, new AuthenticationProperties { IsPersistent = false });
        return new SignedIn(principal);
    }

    private async Task<ClaimsPrincipal?> VerifyAsync(string key)
    {
        if (adminKey.Matches(key)) return ConsoleAuth.PrincipalOf(ConsoleAuth.AdminKeyId, "admin", OperatorRoles.Admin);
        var row = await operatorKeys.VerifyAsync(key, CancellationToken.None);
        return row is null ? null : ConsoleAuth.PrincipalOf(row.Id, row.Name, row.Role);
    }

    private static LockedOut Locked(TimeSpan left) => new(Math.Max(1, (long)Math.Ceiling(left.TotalSeconds)));
}
