using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serilog.Core;
using Serilog.Events;

namespace Backstop.Tests.Infrastructure;

/// <summary>What the pipeline answers outside the handlers: statuses, binding errors, refusals, and how they are logged.</summary>
public abstract class ErrorResponsesTests(BackstopFactory app) : AppTest(app)
{
    private LogCapture Logs => App.Services.GetServices<ILogEventSink>().OfType<LogCapture>().Single();

    private static async Task<string> ShouldBeProblemWithRequestIdAsync(HttpResponseMessage response, int status, string code)
    {
        var problem = await response.ShouldBeProblemAsync(status, code);
        var requestId = response.Headers.GetValues("X-Request-Id").ShouldHaveSingleItem();
        problem.GetProperty("requestId").GetString().ShouldBe(requestId);
        return problem.GetProperty("detail").GetString()!;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Each_request_is_logged_once_with_its_status_and_every_line_of_it_carries_the_request_id()
    {
        var tenant = await App.CreateTenantAsync();
        var id = "corr-" + Guid.NewGuid().ToString("N");
        var client = App.Client(tenant);
        client.DefaultRequestHeaders.Add("X-Request-Id", id);
        (await client.GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var missing = App.CreateClient();
        missing.DefaultRequestHeaders.Add("X-Request-Id", id + "-404");
        (await missing.GetAsync("/v1/no-such-thing")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        var line = Logs.Events.Where(e => e.Properties.TryGetValue("CorrelationId", out var c) && c.ToString() == $"\"{id}\""
            && e.MessageTemplate.Text.StartsWith("HTTP ")).ShouldHaveSingleItem();
        line.Level.ShouldBe(LogEventLevel.Information);
        line.RenderMessage().ShouldStartWith("HTTP \"GET\" \"/v1/me\" responded 200 in ");
        line.Properties["Principal"].ToString().ShouldBe($"\"{tenant.ApiKey.Prefix}\"");
        line.Properties.ShouldContainKey("RemoteIp");
        line.Properties["SourceContext"].ToString().ShouldBe("\"Backstop.Requests\"");
        // The key itself is never on the line, whatever else is.
        Logs.Rendered().ShouldNotContain(r => r.Contains(tenant.Key));
        Logs.Events.ShouldContain(e => e.Properties.ContainsKey("CorrelationId") && e.Properties["CorrelationId"].ToString() == $"\"{id}-404\""
            && e.RenderMessage().Contains("responded 404"));
        // Health probes are logged below Information, so the default level keeps them out.
        await App.CreateClient().GetAsync("/health/live");
        Logs.Events.Where(e => e.RenderMessage().Contains("/health/live")).ShouldAllBe(e => e.Level == LogEventLevel.Verbose);
    }

    [Fact]
    public async Task A_post_without_content_type_is_415_problem_json_with_the_request_id()
    {
        var withBody = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"name":"x"}"""));
        withBody.Headers.ContentType.ShouldBeNull();
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().PostAsync("/v1/admin/organizations", withBody), 415, "unsupported_media_type");
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().PostAsync("/v1/admin/organizations", null), 415, "unsupported_media_type");
        var text = new StringContent("""{"name":"x"}""", Encoding.UTF8, "text/plain");
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().PostAsync("/v1/admin/organizations", text), 415, "unsupported_media_type");
    }

    [Fact]
    public async Task Every_status_of_the_pipeline_is_problem_json_with_the_request_id()
    {
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().GetAsync("/v1/nothing-here"), 404, "not_found");
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().DeleteAsync("/v1/admin/organizations"), 405, "method_not_allowed");
        await ShouldBeProblemWithRequestIdAsync(await App.CreateClient().GetAsync("/v1/admin/organizations"), 401, "unauthorized");
        var tenant = await App.CreateTenantAsync("read");
        await ShouldBeProblemWithRequestIdAsync(await App.Client(tenant).GetAsync("/v1/admin/organizations"), 403, "forbidden");
        await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().PostAsync("/v1/admin/organizations", Json("{")), 400, "validation_failed");
    }

    [Theory]
    [InlineData("""{"name":"k","scopes":"read"}""", "scopes", "scopes must be an array of strings (got a string).")]
    [InlineData("""[{"name":"k"}]""", "request", "The request body must be a JSON object (got an array).")]
    [InlineData("""{"name":5}""", "name", "name must be a string (got a number).")]
    [InlineData("""{"name":"k","expiresAt":"soon"}""", "expiresAt", "expiresAt must be a date-time in ISO 8601 such as 2026-01-31T12:00:00Z (got a string).")]
    [InlineData("""{"name":"k",""", "request", "The request body is not valid JSON")]
    public async Task A_body_that_does_not_bind_is_described_in_the_callers_terms(string body, string field, string message)
    {
        var org = await App.CreateOrganizationAsync();
        var response = await App.AdminClient().PostAsync($"/v1/admin/organizations/{org.Id}/api-keys", Json(body));
        var problem = await response.ShouldBeProblemAsync(400, "validation_failed");
        problem.GetProperty("detail").GetString()!.ShouldStartWith(message);
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue(problem.GetRawText());
        var text = problem.GetRawText();
        text.ShouldNotContain("System.");
        text.ShouldNotContain("Backstop.");
        text.ShouldNotContain("BytePositionInLine");
    }

    [Fact]
    public async Task A_query_value_that_does_not_convert_names_the_parameter_what_it_must_be_and_what_came()
    {
        var problem = await (await App.AdminClient().GetAsync("/v1/admin/organizations?limit=abc")).ShouldBeProblemAsync(400, "validation_failed");
        problem.GetProperty("errors").GetProperty("limit")[0].GetString().ShouldBe("limit must be a whole number (got 'abc').");
        problem.GetRawText().ShouldNotContain("Int32");
    }

    [Fact]
    public async Task The_admin_key_on_a_tenant_endpoint_is_told_to_use_an_organizations_key()
    {
        var detail = await ShouldBeProblemWithRequestIdAsync(await App.AdminClient().GetAsync("/v1/me"), 403, "organization_key_required");
        detail.ShouldContain("organization's API key");
        detail.ShouldNotContain("scope");
        // A tenant key without the scope still hears about the scope.
        var reader = await App.CreateTenantAsync("read");
        await (await App.Client(reader).GetAsync("/v1/api-keys")).ShouldBeProblemAsync(403, "insufficient_scope");
    }

    [Fact]
    public async Task A_line_logged_while_serving_a_request_carries_its_request_id_and_path_without_the_frameworks_request_scope()
    {
        var id = "scope-" + Guid.NewGuid().ToString("N");
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Add("X-Request-Id", id);
        // A provider of its own (the refusal warning is written once per provider and interval).
        await (await client.PostAsync("/webhooks/clerk", Json("{}"))).ShouldBeProblemAsync(503, "provider_not_configured");

        var warning = Logs.Events.Where(e => e.Level == LogEventLevel.Warning
            && e.Properties.TryGetValue("CorrelationId", out var c) && c.ToString() == $"\"{id}\"").ShouldHaveSingleItem();
        warning.Properties["RequestPath"].ToString().ShouldBe("\"/webhooks/clerk\"");
        // ASP.NET Core's request scope (its RequestId) is not opened: its logger is not handed out, other loggers are.
        warning.Properties.ShouldNotContainKey("RequestId");
        var loggers = App.Services.GetRequiredService<ILoggerFactory>();
        loggers.CreateLogger(Backstop.Infrastructure.Observability.QuietHostingLoggerFactory.Category).ShouldBeSameAs(NullLogger.Instance);
        loggers.CreateLogger("Backstop.Errors").IsEnabled(LogLevel.Warning).ShouldBeTrue();
    }

    [Fact]
    public async Task An_unconfigured_provider_is_logged_once_per_provider_and_interval_at_warning_and_never_as_an_error()
    {
        // Paths of their own: the refusal log is per application instance, and other tests of this class post nothing here.
        async Task RefuseAsync(string provider) =>
            await (await App.CreateClient().PostAsync($"/webhooks/{provider}", Json("{}"))).ShouldBeProblemAsync(503, "provider_not_configured");
        int WarningsFor(string provider) => Logs.Events.Count(e =>
            e.Level == LogEventLevel.Warning && e.RenderMessage().Contains($"/webhooks/{provider}") && e.RenderMessage().Contains("provider_not_configured"));

        for (var i = 0; i < 5; i++) await RefuseAsync("stripe");
        await RefuseAsync("paddle");
        WarningsFor("stripe").ShouldBe(1);
        WarningsFor("paddle").ShouldBe(1);

        App.Time.Advance(TimeSpan.FromMinutes(5));
        await RefuseAsync("stripe");
        WarningsFor("stripe").ShouldBe(2);

        Logs.Events.Where(e => e.Level >= LogEventLevel.Error).Select(e => e.RenderMessage())
            .ShouldNotContain(m => m.Contains("/webhooks/stripe") || m.Contains("/webhooks/paddle"));
    }

    [Fact]
    public async Task Sms_without_twilio_is_refused_and_logged_once_per_interval_at_warning()
    {
        var tenant = await App.CreateTenantAsync();
        for (var i = 0; i < 3; i++)
            await (await App.Client(tenant).PostJsonAsync("/v1/sms", new { to = "+14155552671", body = "hi" })).ShouldBeProblemAsync(503, "sms_not_configured");
        Logs.Events.Count(e => e.Level == LogEventLevel.Warning && e.RenderMessage().Contains("sms_not_configured")).ShouldBe(1);
        Logs.Events.Where(e => e.Level >= LogEventLevel.Error).Select(e => e.RenderMessage()).ShouldNotContain(m => m.Contains("/v1/sms"));
    }
}

public sealed class ErrorResponsesTestsSetup : AppSetup
{
    // Information: the request log's own lines must be seen to prove they are not at Error.
    public override void Configure(Dictionary<string, string?> settings) => settings["Serilog:MinimumLevel:Default"] = "Information";

    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILogEventSink, LogCapture>();
}

public sealed class ErrorResponsesTestsOnSqlite(SqliteApp<ErrorResponsesTestsSetup> app) : ErrorResponsesTests(app), IClassFixture<SqliteApp<ErrorResponsesTestsSetup>>;

public sealed class ErrorResponsesTestsOnPostgres(PostgresApp<ErrorResponsesTestsSetup> app) : ErrorResponsesTests(app), IClassFixture<PostgresApp<ErrorResponsesTestsSetup>>;
