using Backstop.Infrastructure.Configuration;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

public sealed class ConfigurationTests
{
    private static IReadOnlyList<string> ProblemsOf(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddData().AddSecurity().AddJobs();
        var check = (ConfigurationCheck)services.Single(d => d.ServiceType == typeof(ConfigurationCheck)).ImplementationInstance!;
        return check.Problems(configuration);
    }

    [Fact]
    public void Zero_configuration_is_valid() => ProblemsOf([]).ShouldBeEmpty();

    [Fact]
    public void Every_bad_or_missing_key_is_named_in_one_message()
    {
        var problems = ProblemsOf(new()
        {
            ["Database:Provider"] = "postgres",
            ["Admin:ApiKey"] = "too-short",
            ["Jobs:WorkerCount"] = "lots",
            ["Jobs:Schedules:job-runs-retention"] = "every tuesday",
            ["Security:TrustedProxies:0"] = "not-an-ip",
        });
        var message = new InvalidConfigurationException(problems).Message;

        message.ShouldContain("Database:ConnectionString");
        message.ShouldContain("Admin:ApiKey");
        message.ShouldContain("Jobs:WorkerCount");
        message.ShouldContain("Jobs:Schedules:job-runs-retention");
        message.ShouldContain("Security:TrustedProxies:0");
        message.ShouldNotContain("   at ");
    }

    [Fact]
    public void Cron_expressions_are_parsed_at_start_and_every_bad_one_is_named()
    {
        var problems = ProblemsOf(new()
        {
            ["Jobs:Schedules:job-runs-retention"] = "99 99 * * *",
            ["Jobs:Schedules:outbox-sweep"] = "*/5 * * *",
            ["Jobs:Schedules:messaging-cleanup"] = "0 0 31 2 MON-FRI-SUN",
            ["Jobs:Schedules:auth-failures-cleanup"] = "disabled",
            ["Jobs:Schedules:webhook-inbox"] = "*/30 * * * * *",
            ["Jobs:Schedules:webhook-retention"] = "@daily",
            ["Jobs:Storage"] = "disk",
        });
        problems.ShouldContain(p => p.Contains("Jobs:Schedules:job-runs-retention") && p.Contains("99 99 * * *"));
        problems.ShouldContain(p => p.Contains("Jobs:Schedules:outbox-sweep"));
        problems.ShouldContain(p => p.Contains("Jobs:Schedules:messaging-cleanup"));
        problems.ShouldContain(p => p.Contains("Jobs:Storage"));
        problems.ShouldNotContain(p => p.Contains("auth-failures-cleanup") || p.Contains("webhook-inbox") || p.Contains("webhook-retention"));
        problems.Count.ShouldBe(4);
    }

    [Fact]
    public void Unknown_database_provider_is_refused() =>
        ProblemsOf(new() { ["Database:Provider"] = "oracle" }).ShouldContain(p => p.Contains("Database:Provider"));
}
