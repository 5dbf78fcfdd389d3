using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>/metrics: Prometheus text, HTTP metrics labelled by route pattern.</summary>
public abstract class MetricsEndpointTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format()
    {
        await App.CreateClient().GetAsync("/health/live");
        var response = await App.CreateClient().GetAsync("/metrics");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var text = await response.Content.ReadAsStringAsync();
        text.ShouldContain("http_requests_received_total");
        text.ShouldContain("http_request_duration_seconds");
    }

    [Fact]
    public async Task Http_metrics_are_labelled_by_route_pattern_and_stay_bounded_whatever_the_client_sends()
    {
        var client = App.CreateClient();
        var junk = "/no-such-path-" + Guid.NewGuid().ToString("N");
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync(junk)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.SendAsync(new HttpRequestMessage(new HttpMethod("BREW"), junk))).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        var text = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();

        var lines = text.Split('\n').Where(l => l.StartsWith("http_requests_received_total{")).ToList();
        lines.ShouldContain(l => l.Contains("code=\"200\"") && l.Contains("method=\"GET\"") && l.Contains("endpoint=\"/health/live\""));
        // A path nothing matched is not a label (it would grow with every scanner's guess), nor is an odd method.
        lines.ShouldContain(l => l.Contains("code=\"404\"") && l.Contains("method=\"GET\"") && l.Contains("endpoint=\"\""));
        lines.ShouldContain(l => l.Contains("method=\"OTHER\"") && l.Contains("endpoint=\"\""));
        text.ShouldNotContain(junk);
        text.ShouldNotContain("BREW");
        text.ShouldContain("http_request_duration_seconds_bucket{");
        text.ShouldContain("http_requests_in_progress");
    }
}

public sealed class MetricsEndpointTestsOnSqlite(SqliteApp<DefaultSetup> app) : MetricsEndpointTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class MetricsEndpointTestsOnPostgres(PostgresApp<DefaultSetup> app) : MetricsEndpointTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
