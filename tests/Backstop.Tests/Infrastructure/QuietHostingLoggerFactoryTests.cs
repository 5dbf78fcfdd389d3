using Backstop.Infrastructure.Observability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Backstop.Tests.Infrastructure;

/// <summary>ASP.NET Core's hosting logger (whose being enabled costs a scope and an Activity per request) is withheld, unless asked for.</summary>
public sealed class QuietHostingLoggerFactoryTests
{
    private static ILoggerFactory Factory(string? traceEveryRequest)
    {
        var settings = new Dictionary<string, string?>();
        if (traceEveryRequest is not null) settings[QuietHostingLoggerFactory.TraceEveryRequestKey] = traceEveryRequest;
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .AddLogging();
        QuietHostingLoggerFactory.Decorate(services);
        return services.BuildServiceProvider().GetRequiredService<ILoggerFactory>();
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", true)]
    [InlineData("true", false)]
    [InlineData("True", false)]
    public void The_hosting_category_gets_no_logger_unless_every_request_is_traced(string? setting, bool withheld)
    {
        var factory = Factory(setting);
        factory.ShouldBeOfType<QuietHostingLoggerFactory>();
        var hosting = factory.CreateLogger(QuietHostingLoggerFactory.Category);
        if (withheld) hosting.ShouldBeSameAs(NullLogger.Instance);
        else hosting.ShouldNotBeSameAs(NullLogger.Instance);
        factory.CreateLogger("Backstop.Anything").ShouldNotBeSameAs(NullLogger.Instance);
        factory.CreateLogger(QuietHostingLoggerFactory.Category + ".Other").ShouldNotBeSameAs(NullLogger.Instance);
    }

    [Fact]
    public void A_setting_that_is_not_a_boolean_is_named_by_the_start_up_check()
    {
        var services = new ServiceCollection();
        services.AddObservability();
        var check = (Backstop.Infrastructure.Configuration.ConfigurationCheck)services
            .Single(d => d.ServiceType == typeof(Backstop.Infrastructure.Configuration.ConfigurationCheck)).ImplementationInstance!;
        IReadOnlyList<string> ProblemsOf(string? value) => check.Problems(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [QuietHostingLoggerFactory.TraceEveryRequestKey] = value }).Build());

        ProblemsOf("yes").ShouldHaveSingleItem().ShouldContain(QuietHostingLoggerFactory.TraceEveryRequestKey);
        ProblemsOf("true").ShouldBeEmpty();
        ProblemsOf(null).ShouldBeEmpty();
    }
}
