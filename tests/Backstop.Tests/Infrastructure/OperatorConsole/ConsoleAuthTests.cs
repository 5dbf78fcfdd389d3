using Backstop.Infrastructure.OperatorConsole;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary>The console's sign-in, session and authorization rules.</summary>
public abstract class ConsoleAuthTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_page_without_a_session_sends_the_browser_to_sign_in_and_an_api_key_does_not_open_it()
    {
        var response = await ConsoleBrowser.Open(App).Http.GetAsync("/console/inbox?status=dead");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.PathAndQuery.ShouldBe("/console/sign-in?returnUrl=%2Fconsole%2Finbox%3Fstatus%3Ddead");

        // The API's bearer keys are not the console's: even the admin key as a header opens nothing.
        var withBearer = ConsoleBrowser.Open(App);
        withBearer.Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", BackstopFactory.AdminKey);
        var bearer = await withBearer.Http.GetAsync("/console");
        bearer.StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Signing_in_sets_an_http_only_strict_cookie_for_the_console_and_is_audited_with_the_key_name()
    {
        var key = await App.CreateOperatorKeyAsync("admin");
        var browser = ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress());
        var response = await browser.TrySignInAsync(key.Key);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ConsoleAuth.CookieName + "=", StringComparison.Ordinal));
        cookie.ShouldContain("httponly", Case.Insensitive);
        cookie.ShouldContain("samesite=strict", Case.Insensitive);
        cookie.ShouldContain("path=/console", Case.Insensitive);
        // Plain HTTP on localhost (a browser on the same machine): not Secure, or the browser would drop it.
        cookie.ShouldNotContain("secure", Case.Insensitive);

        var overview = await browser.PageAsync("/console");
        overview.ShouldContain("<h1>Overview</h1>");
        overview.ShouldContain($"Signed in as <strong>{key.Name}</strong>");

        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<string>("select actor from audit_log where action = 'console.sign_in' and target_id = @Id", new { key.Id }))
            .ShouldBe("console:" + key.Name);
    }

    [Fact]
    public async Task The_session_cookie_is_secure_when_the_console_is_reached_by_another_host_name()
    {
        var key = await App.CreateOperatorKeyAsync("read_only");
        var browser = ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress(), new Uri("http://console.example.net"));
        var response = await browser.TrySignInAsync(key.Key);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ConsoleAuth.CookieName + "=", StringComparison.Ordinal));
        cookie.ShouldContain("secure", Case.Insensitive);
    }

    [Fact]
    public async Task The_admin_key_signs_in_too()
    {
        var browser = ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress());
        await browser.SignInAsync(BackstopFactory.AdminKey);
        (await browser.PageAsync("/console/organizations")).ShouldContain("Signed in as <strong>admin</strong>");
    }

    [Fact]
    public async Task A_wrong_key_is_refused_and_the_eleventh_attempt_is_locked_out_like_an_api_key_even_with_a_right_key()
    {
        var key = await App.CreateOperatorKeyAsync("admin");
        var browser = ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress());
        var wrong = "bso_" + new string('x', 43);
        for (var i = 0; i < 10; i++)
        {
            var refused = await browser.TrySignInAsync(wrong);
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            (await refused.Content.ReadAsStringAsync()).ShouldContain("not a valid admin or operator key");
        }

        var locked = await browser.TrySignInAsync(wrong);
        locked.StatusCode.ShouldBe((HttpStatusCode)429);
        locked.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromMinutes(15));
        (await browser.TrySignInAsync(key.Key)).StatusCode.ShouldBe((HttpStatusCode)429);
        // The same counters as the API's: a record per failure in auth_failure_events.
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from auth_failures where scope = 'pair' and prefix = 'bso_' and locked_until is not null")).ShouldBeGreaterThan(0);

        // Another address is not locked.
        await ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress()).SignInAsync(key.Key);
    }

    [Fact]
    public async Task Every_console_action_is_refused_403_to_a_read_only_operator()
    {
        var (browser, _) = await App.SignedInAsync("read_only");
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console"));
        var actions = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/console", StringComparison.Ordinal)
                        && e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods.Contains("POST") == true
                        && e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy == ConsoleAuth.ActPolicy))
            .ToList();
        actions.Count.ShouldBeGreaterThanOrEqualTo(2);
        foreach (var action in actions)
        {
            var url = "/" + string.Join('/', action.RoutePattern.PathSegments.Select(s =>
                string.Concat(s.Parts.Select(p => p is Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l ? l.Content : Guid.CreateVersion7().ToString()))));
            var response = await browser.PostAsync(url, token);
            response.StatusCode.ShouldBe(HttpStatusCode.Forbidden, url);
        }
        // Every POST of the console but sign-in and sign-out is an action. (The pages' own endpoints accept POST for
        // Razor form handlers, of which the console has none: its forms all post to the endpoints above.)
        App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/console", StringComparison.Ordinal)
                        && e.Metadata.GetMetadata<Microsoft.AspNetCore.Components.Endpoints.ComponentTypeMetadata>() is null
                        && e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods.Contains("POST") == true)
            .Count().ShouldBe(actions.Count + 2);
    }

    [Fact]
    public async Task A_form_posted_without_its_antiforgery_token_is_400_and_changes_nothing()
    {
        var tenant = await App.CreateTenantAsync();
        var (browser, _) = await App.SignedInAsync("admin");
        var response = await browser.PostAsync($"/console/organizations/{tenant.Organization.Id}/api-keys/{tenant.ApiKey.Id}/revoke", token: null);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Nor does the sign-in form take a key without its token.
        var signIn = await ConsoleBrowser.Open(App, TestClientIpStartupFilter.RandomAddress()).PostAsync("/console/sign-in", null, ("key", BackstopFactory.AdminKey));
        signIn.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_session_ends_after_eight_idle_hours_and_each_request_restarts_the_count()
    {
        var (browser, _) = await App.SignedInAsync("read_only");
        App.Time.Advance(TimeSpan.FromHours(7.9));
        await browser.PageAsync("/console");
        App.Time.Advance(TimeSpan.FromHours(7.9));
        await browser.PageAsync("/console");
        App.Time.Advance(TimeSpan.FromHours(8.1));
        var expired = await browser.Http.GetAsync("/console");
        expired.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        expired.Headers.Location!.AbsolutePath.ShouldBe("/console/sign-in");
    }

    [Fact]
    public async Task Revoking_an_operator_key_ends_its_open_sessions()
    {
        var (browser, key) = await App.SignedInAsync("admin");
        await browser.PageAsync("/console");
        (await App.AdminClient().DeleteAsync($"/v1/admin/operator-keys/{key.Id}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await browser.Http.GetAsync("/console")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Signing_out_ends_the_session_and_is_audited()
    {
        var (browser, key) = await App.SignedInAsync("read_only");
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console"));
        var response = await browser.PostAsync("/console/sign-out", token);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.Http.GetAsync("/console")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<string>("select actor from audit_log where action = 'console.sign_out' and target_id = @Id", new { key.Id }))
            .ShouldBe("console:" + key.Name);
    }

    [Fact]
    public async Task Console_pages_forbid_scripts_and_framing()
    {
        var (browser, _) = await App.SignedInAsync("read_only");
        var response = await browser.Http.GetAsync("/console");
        response.Headers.GetValues("Content-Security-Policy").Single().ShouldBe(ConsoleExtensions.ContentSecurityPolicy);
        response.Headers.GetValues("X-Frame-Options").Single().ShouldBe("DENY");
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("<script");
        // The API's answers do not pass the console's branch.
        (await App.AdminClient().GetAsync("/v1/admin/operator-keys")).Headers.Contains("Content-Security-Policy").ShouldBeFalse();
    }

    [Theory]
    [InlineData("/console/inbox", "/console/inbox")]
    [InlineData("https://evil.example/console", "/console")]
    [InlineData("//evil.example/console", "/console")]
    [InlineData("/console\\..\\x", "/console")]
    [InlineData(null, "/console")]
    public void After_sign_in_only_a_console_page_of_this_server_is_a_destination(string? returnUrl, string expected) =>
        ConsoleExtensions.LocalConsoleUrl(returnUrl).ShouldBe(expected);
}

public sealed class ConsoleAuthTestsOnSqlite(SqliteApp<DefaultSetup> app) : ConsoleAuthTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ConsoleAuthTestsOnPostgres(PostgresApp<DefaultSetup> app) : ConsoleAuthTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
