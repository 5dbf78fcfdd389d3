namespace Backstop.Features.ApiKeys;

internal sealed class LockoutOptions : IValidatedOptions
{
    public const string Section = "ApiKeys:Lockout";

    /// <summary>Failures from one client address with one key prefix, within the window, that lock that pair.</summary>
    public int MaxFailuresPerIpAndPrefix { get; set; } = 10;

    /// <summary>Failures from one client address across all prefixes, within the window, that lock the address.</summary>
    public int MaxFailuresPerIp { get; set; } = 50;

    public int WindowMinutes { get; set; } = 15;

    public int LockoutMinutes { get; set; } = 15;

    public IEnumerable<string> Validate()
    {
        if (MaxFailuresPerIpAndPrefix is < 1 or > 100000) yield return "ApiKeys:Lockout:MaxFailuresPerIpAndPrefix must be between 1 and 100000.";
        if (MaxFailuresPerIp is < 1 or > 1000000) yield return "ApiKeys:Lockout:MaxFailuresPerIp must be between 1 and 1000000.";
        if (WindowMinutes is < 1 or > 10080) yield return "ApiKeys:Lockout:WindowMinutes must be between 1 and 10080.";
        if (LockoutMinutes is < 1 or > 10080) yield return "ApiKeys:Lockout:LockoutMinutes must be between 1 and 10080.";
    }
}
