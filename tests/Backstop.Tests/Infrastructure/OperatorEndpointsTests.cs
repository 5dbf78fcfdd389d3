using Backstop.Infrastructure.Observability;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Infrastructure;

public sealed class MetricsAccessTests
{
    private static MetricsAccess With(params string[] allowFrom) => new(Options.Create(new ObservabilityOptions { MetricsAllowFrom = allowFrom }));

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.20.0.5", true)]
    [InlineData("192.168.1.10", true)]
    [InlineData("fd12:3456::1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("198.18.0.1", false)]
    [InlineData("unknown", false)]
    public void By_default_only_loopback_and_private_ranges_may_scrape(string client, bool allowed) =>
        With().Allows(client).ShouldBe(allowed);

    [Fact]
    public void A_list_replaces_the_default_and_star_opens_it()
    {
        var list = With("203.0.113.0/24", "2001:db8::7");
        list.Allows("203.0.113.9").ShouldBeTrue();
        list.Allows("2001:db8::7").ShouldBeTrue();
        list.Allows("127.0.0.1").ShouldBeFalse();
        With("*").Allows("8.8.8.8").ShouldBeTrue();
    }

    [Fact]
    public void A_bad_entry_is_named_at_start() =>
        new ObservabilityOptions { MetricsAllowFrom = ["10.0.0.0/8", "not-a-range"] }.Validate().ShouldHaveSingleItem().ShouldContain("MetricsAllowFrom:1");
}

public abstract class OperatorEndpointsTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Metrics_are_refused_to_an_address_outside_the_allowed_ranges_and_docs_can_be_switched_off()
    {
        // This app allows 203.0.113.0/24 only (and switches the docs off).
        var outsider = App.CreateClient();
        TestClientIpStartupFilter.SetAddress(outsider, "198.51.100.7");
        await (await outsider.GetAsync("/metrics")).ShouldBeProblemAsync(403, "metrics_forbidden");
        var allowed = App.CreateClient();
        TestClientIpStartupFilter.SetAddress(allowed, "203.0.113.20");
        (await allowed.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await allowed.GetAsync("/docs")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await allowed.GetAsync("/openapi/v1.json")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }
}

public sealed class OperatorEndpointsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Observability:MetricsAllowFrom:0"] = "203.0.113.0/24";
        settings["Api:DocsEnabled"] = "false";
    }
}

public sealed class OperatorEndpointsTestsOnSqlite(SqliteApp<OperatorEndpointsSetup> app) : OperatorEndpointsTests(app), IClassFixture<SqliteApp<OperatorEndpointsSetup>>;

public sealed class OperatorEndpointsTestsOnPostgres(PostgresApp<OperatorEndpointsSetup> app) : OperatorEndpointsTests(app), IClassFixture<PostgresApp<OperatorEndpointsSetup>>;
