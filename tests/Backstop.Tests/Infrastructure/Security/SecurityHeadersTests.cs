using System.Net.Http.Headers;
using System.Text;
using Backstop.Infrastructure.Security;

namespace Backstop.Tests.Infrastructure.Security;

public sealed class DownloadContentTypeTests
{
    [Theory]
    [InlineData("audio/mpeg", "audio/mpeg")]
    [InlineData("Audio/MP4; codecs=mp4a", "audio/mp4")]
    [InlineData("text/html", "application/octet-stream")]
    [InlineData("image/svg+xml", "application/octet-stream")]
    [InlineData(null, "application/octet-stream")]
    public void Only_audio_types_are_served_as_stored(string? stored, string served) =>
        SecurityHeaders.DownloadContentType(stored).ShouldBe(served);
}

public abstract class SecurityHeadersTests(BackstopFactory app) : AppTest(app)
{
    private static void ShouldCarryTheCommonHeaders(HttpResponseMessage response)
    {
        response.Headers.GetValues("X-Content-Type-Options").Single().ShouldBe("nosniff");
        response.Headers.GetValues("Referrer-Policy").Single().ShouldBe("no-referrer");
    }

    [Fact]
    public async Task Api_answers_refusals_and_errors_carry_nosniff_and_no_referrer_without_a_page_policy()
    {
        var me = await App.Client(await App.CreateTenantAsync()).GetAsync("/v1/me");
        me.StatusCode.ShouldBe(HttpStatusCode.OK);
        ShouldCarryTheCommonHeaders(me);
        me.Headers.Contains("Content-Security-Policy").ShouldBeFalse();

        var refused = await App.CreateClient().GetAsync("/v1/me");
        refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        ShouldCarryTheCommonHeaders(refused);
        var missing = await App.CreateClient().GetAsync("/v1/no-such-thing");
        ShouldCarryTheCommonHeaders(missing);
    }

    [Fact]
    public async Task Docs_and_the_dashboard_forbid_framing_and_other_origins()
    {
        var docs = await App.CreateClient().GetAsync("/docs");
        ShouldCarryTheCommonHeaders(docs);
        docs.Headers.GetValues("Content-Security-Policy").Single().ShouldContain("frame-ancestors 'none'");
        docs.Headers.GetValues("X-Frame-Options").Single().ShouldBe("DENY");

        var dashboard = App.CreateClient();
        dashboard.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + BackstopFactory.AdminKey)));
        var page = await dashboard.GetAsync("/hangfire");
        ((int)page.StatusCode).ShouldBeLessThan(400);
        ShouldCarryTheCommonHeaders(page);
        page.Headers.GetValues("Content-Security-Policy").Single().ShouldBe(SecurityHeaders.HtmlPolicy);
    }

    [Fact]
    public async Task Answers_that_carry_a_new_key_are_never_stored_by_a_cache()
    {
        var organization = await App.CreateOrganizationAsync();
        var created = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organization.Id}/api-keys", new { name = "cached?" });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        created.Headers.CacheControl!.NoStore.ShouldBeTrue();
        ShouldCarryTheCommonHeaders(created);
        var id = (await created.JsonAsync()).GetProperty("id").GetString();
        var rotated = await App.AdminClient().PostAsync($"/v1/admin/organizations/{organization.Id}/api-keys/{id}/rotate", null);
        rotated.StatusCode.ShouldBe(HttpStatusCode.Created);
        rotated.Headers.CacheControl!.NoStore.ShouldBeTrue();
    }
}

public sealed class SecurityHeadersTestsOnSqlite(SqliteApp<DefaultSetup> app) : SecurityHeadersTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class SecurityHeadersTestsOnPostgres(PostgresApp<DefaultSetup> app) : SecurityHeadersTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
