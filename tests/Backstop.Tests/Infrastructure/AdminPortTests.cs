using System.Net.Http.Headers;
using Backstop.Infrastructure.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>
/// TestServer binds no port, so <c>Connection.LocalPort</c> is 0. This startup filter (test host only) sets it from
/// the <see cref="Header"/> request header: a client "connects to" the port it names.
/// </summary>
public sealed class TestLocalPortStartupFilter : IStartupFilter
{
    public const string Header = "X-Test-Local-Port";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (int.TryParse(context.Request.Headers[Header].ToString(), out var port)) context.Connection.LocalPort = port;
            return nextMiddleware(context);
        });
        next(app);
    };

    public static HttpClient On(HttpClient client, int port)
    {
        client.DefaultRequestHeaders.Add(Header, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return client;
    }
}

public sealed class AdminPortSettingTests
{
    [Theory]
    [InlineData("http://127.0.0.1:9091", true)]
    [InlineData("http://localhost:9091;https://[::1]:9443", true)]
    [InlineData("http://*:9091", true)]
    [InlineData("", true)]
    [InlineData("http://127.0.0.1", false)]
    [InlineData("http://127.0.0.1:0", false)]
    [InlineData("ftp://127.0.0.1:9091", false)]
    [InlineData("127.0.0.1:9091", false)]
    public void Admin_urls_need_an_http_scheme_and_an_explicit_port(string urls, bool valid) =>
        new AdminOptions { Urls = urls }.Validate().Any().ShouldBe(!valid);

    [Theory]
    [InlineData("/v1/admin/organizations", true)]
    [InlineData("/V1/Admin/outbox", true)]
    [InlineData("/metrics", true)]
    [InlineData("/hangfire/recurring", true)]
    [InlineData("/v1/administrators", false)]
    [InlineData("/v1/me", false)]
    [InlineData("/health/ready", false)]
    [InlineData("/docs", false)]
    public void Operator_paths_are_the_admin_api_metrics_and_the_dashboard(string path, bool isOperator) =>
        AdminPort.IsOperatorPath(path).ShouldBe(isOperator);
}

public abstract class AdminPortTests(BackstopFactory app) : AppTest(app)
{
    private const int PublicPort = 8080;

    private HttpClient Admin(int port) => TestLocalPortStartupFilter.On(App.AdminClient(), port);

    // Test clients call from 198.18.0.0/15, which the test settings allow to scrape (BackstopFactory).
    private HttpClient Scraper(int port) => TestLocalPortStartupFilter.On(App.CreateClient(), port);

    private HttpClient Dashboard(int port)
    {
        var client = TestLocalPortStartupFilter.On(App.CreateClient(), port);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("admin:" + BackstopFactory.AdminKey)));
        return client;
    }

    [Fact]
    public async Task Operator_endpoints_answer_only_on_the_admin_port()
    {
        await (await Admin(PublicPort).GetAsync("/v1/admin/outbox")).ShouldBeProblemAsync(404, "admin_port_only");
        (await Admin(AdminPortSetup.Port).GetAsync("/v1/admin/outbox")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await (await Scraper(PublicPort).GetAsync("/metrics")).ShouldBeProblemAsync(404, "admin_port_only");
        (await Scraper(AdminPortSetup.Port).GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await (await Dashboard(PublicPort).GetAsync("/hangfire/recurring")).ShouldBeProblemAsync(404, "admin_port_only");
        (await Dashboard(AdminPortSetup.Port).GetAsync("/hangfire/recurring")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Without_credentials_the_public_port_still_says_404_not_401()
    {
        var anonymous = TestLocalPortStartupFilter.On(App.CreateClient(), PublicPort);
        await (await anonymous.GetAsync("/v1/admin/outbox")).ShouldBeProblemAsync(404, "admin_port_only");
        await (await anonymous.GetAsync("/hangfire")).ShouldBeProblemAsync(404, "admin_port_only");
    }

    [Fact]
    public async Task Health_and_docs_stay_on_the_public_port()
    {
        var client = TestLocalPortStartupFilter.On(App.CreateClient(), PublicPort);
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/openapi/v1.json")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}

public sealed class AdminPortSetup : AppSetup
{
    public const int Port = 9091;

    public override void Configure(Dictionary<string, string?> settings) => settings["Admin:Urls"] = $"http://127.0.0.1:{Port}";

    public override void ConfigureServices(IServiceCollection services) => services.AddTransient<IStartupFilter, TestLocalPortStartupFilter>();
}

public sealed class AdminPortTestsOnSqlite(SqliteApp<AdminPortSetup> app) : AdminPortTests(app), IClassFixture<SqliteApp<AdminPortSetup>>;

public sealed class AdminPortTestsOnPostgres(PostgresApp<AdminPortSetup> app) : AdminPortTests(app), IClassFixture<PostgresApp<AdminPortSetup>>;

/// <summary>The default (no Admin:Urls): every port answers the operator's endpoints, as before.</summary>
public abstract class NoAdminPortTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Without_admin_urls_operator_endpoints_answer_on_any_port()
    {
        (await TestLocalPortStartupFilter.On(App.AdminClient(), 8080).GetAsync("/v1/admin/outbox")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var scraper = TestLocalPortStartupFilter.On(App.CreateClient(), 8080);
        (await scraper.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}

public sealed class NoAdminPortSetup : AppSetup
{
    public override void ConfigureServices(IServiceCollection services) => services.AddTransient<IStartupFilter, TestLocalPortStartupFilter>();
}

public sealed class NoAdminPortTestsOnSqlite(SqliteApp<NoAdminPortSetup> app) : NoAdminPortTests(app), IClassFixture<SqliteApp<NoAdminPortSetup>>;

public sealed class NoAdminPortTestsOnPostgres(PostgresApp<NoAdminPortSetup> app) : NoAdminPortTests(app), IClassFixture<PostgresApp<NoAdminPortSetup>>;
