using Backstop.Features.ApiKeys;
using Backstop.Infrastructure.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Features.ApiKeys;

public sealed class ApiKeysSettingsTests
{
    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection().AddApiKeys();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        return check.Problems(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }

    [Fact]
    public void Zero_configuration_is_valid() => ProblemsOf([]).ShouldBeEmpty();

    [Fact]
    public void Bad_lockout_and_rotation_settings_are_named()
    {
        var problems = ProblemsOf(new()
        {
            ["ApiKeys:RotationOverlapMinutes"] = "-1",
            ["ApiKeys:LastUsedIntervalSeconds"] = "often",
            ["ApiKeys:Lockout:MaxFailuresPerIpAndPrefix"] = "0",
            ["ApiKeys:Lockout:MaxFailuresPerIp"] = "0",
            ["ApiKeys:Lockout:WindowMinutes"] = "0",
            ["ApiKeys:Lockout:LockoutMinutes"] = "0",
        });
        foreach (var key in new[] { "ApiKeys:RotationOverlapMinutes", "ApiKeys:LastUsedIntervalSeconds", "ApiKeys:Lockout:MaxFailuresPerIpAndPrefix",
                     "ApiKeys:Lockout:MaxFailuresPerIp", "ApiKeys:Lockout:WindowMinutes", "ApiKeys:Lockout:LockoutMinutes" })
            problems.ShouldContain(p => p.StartsWith(key + " "), key);
    }
}
