namespace Backstop.Infrastructure.OperatorConsole;

/// <summary>The two roles of an operator key: <c>admin</c> acts, <c>read_only</c> sees everything and changes nothing.</summary>
internal static class OperatorRoles
{
    public const string Admin = "admin";
    public const string ReadOnly = "read_only";

    public static readonly string[] All = [Admin, ReadOnly];
}
