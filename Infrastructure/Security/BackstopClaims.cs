using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Backstop.Infrastructure.Security;

internal static class BackstopClaims
{
    public const string Scheme = "ApiKey";
    public const string AdminRole = "admin";
    public const string OrganizationId = "backstop:org";
    public const string KeyId = "backstop:key";
    public const string Scope = "backstop:scope";
}
