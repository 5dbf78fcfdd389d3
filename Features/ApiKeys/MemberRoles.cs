using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Backstop.Infrastructure.Events;

namespace Backstop.Features.ApiKeys;

internal static class MemberRoles
{
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Member = "member";

    public static readonly IReadOnlyList<string> All = [Owner, Admin, Member];

    public static bool IsValid(string? role) => role is Owner or Admin or Member;
}
