using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

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
