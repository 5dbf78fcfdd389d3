using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Hangfire;

namespace Backstop.Tests.Infrastructure;

public sealed class JobsDashboardSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Jobs:Schedules:outbox-sweep"] = "*/5 * * * *";
        settings["Jobs:Schedules:auth-failures-cleanup"] = "disabled";
    }
}

/// <summary>The dashboard's commands need the antiforgery token its pages carry; the job list reports what Hangfire really holds.</summary>
public abstract partial class JobsDashboardTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_cross_site_post_without_the_pages_token_is_refused_and_changes_nothing()
    {
        // What a page on another site can make the operator's browser send: cached Basic credentials, no token.
        foreach (var command in new[] { "recurring/remove", "recurring/trigger" })
        {
            var forged = DashboardClient();
            using var request = new HttpRequestMessage(HttpMethod.Post, "/hangfire/" + command)
            {
                Content = new FormUrlEncodedContent([new("jobs[]", "job-runs-retention")]),
            };
            request.Headers.Add("Origin", "https://evil.example");
            (await forged.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        // A token of the right shape but not issued with this client's cookie is no better.
        var (client, header, _) = await OpenDashboardAsync();
        var stranger = DashboardClient();
        var (_, _, strangerToken) = await OpenDashboardAsync(stranger);
        (await client.SendAsync(Command("recurring/remove", "job-runs-retention", header, strangerToken))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var job = await JobAsync("job-runs-retention");
        job.GetProperty("state").GetString().ShouldBe("scheduled");
        job.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        App.Service<JobStorage>().GetMonitoringApi().EnqueuedCount("default").ShouldBe(0);
    }

    [Fact]
    public async Task The_dashboards_own_buttons_work_with_the_token_the_page_carries_and_the_job_list_sees_a_removal()
    {
        var (client, header, token) = await OpenDashboardAsync();

        var removed = await client.SendAsync(Command("recurring/remove", "messaging-cleanup", header, token));
        removed.StatusCode.ShouldBe(HttpStatusCode.NoContent, await removed.Content.ReadAsStringAsync());

        // Audited, with the job it named.
        using (var audit = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/audit?action=jobs_dashboard.command&limit=100"))
        {
            audit.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BackstopFactory.AdminKey);
            var entries = (await (await App.CreateClient().SendAsync(audit)).JsonAsync()).GetProperty("items").EnumerateArray().ToList();
            var entry = entries.First(e => e.GetProperty("targetId").GetString() == "/hangfire/recurring/remove");
            entry.GetProperty("actor").GetString().ShouldBe("admin");
            entry.GetProperty("changes").GetProperty("jobs")[0].GetString().ShouldBe("messaging-cleanup");
        }

        var job = await JobAsync("messaging-cleanup");
        job.GetProperty("state").GetString().ShouldBe("removed");
        job.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        job.GetProperty("nextRunAt").ValueKind.ShouldBe(JsonValueKind.Null);

        // The next start registers it again from configuration.
        await using var restarted = new SiblingFactory(App);
        var again = await JobAsync("messaging-cleanup", restarted.CreateClient());
        again.GetProperty("state").GetString().ShouldBe("scheduled");
        again.GetProperty("enabled").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task The_job_list_shows_each_jobs_schedule_and_next_run_from_the_clock()
    {
        var now = App.Time.GetUtcNow();

        var retention = await JobAsync("job-runs-retention");
        retention.GetProperty("schedule").GetString().ShouldBe("30 3 * * *");
        var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddHours(3).AddMinutes(30);
        retention.GetProperty("nextRunAt").GetDateTimeOffset().ShouldBe(today > now ? today : today.AddDays(1));

        var sweep = await JobAsync("outbox-sweep");
        sweep.GetProperty("schedule").GetString().ShouldBe("*/5 * * * *");
        var next = sweep.GetProperty("nextRunAt").GetDateTimeOffset();
        next.ShouldBeGreaterThan(now);
        (next - now).ShouldBeLessThanOrEqualTo(TimeSpan.FromMinutes(5));
        (next.Minute % 5).ShouldBe(0);
        next.Second.ShouldBe(0);

        var disabled = await JobAsync("auth-failures-cleanup");
        disabled.GetProperty("state").GetString().ShouldBe("disabled");
        disabled.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        disabled.GetProperty("nextRunAt").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    private HttpClient DashboardClient()
    {
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + BackstopFactory.AdminKey)));
        return client;
    }

    /// <summary>GETs a dashboard page as the browser does (keeping its cookies) and reads the token it carries.</summary>
    private async Task<(HttpClient Client, string Header, string Token)> OpenDashboardAsync(HttpClient? client = null)
    {
        client ??= DashboardClient();
        var page = await client.GetAsync("/hangfire/recurring");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await page.Content.ReadAsStringAsync();
        var header = MetaHeader().Match(html);
        var token = MetaToken().Match(html);
        header.Success.ShouldBeTrue("the page carries no csrf-header");
        token.Success.ShouldBeTrue("the page carries no csrf-token");
        return (client, WebUtility.HtmlDecode(header.Groups[1].Value), WebUtility.HtmlDecode(token.Groups[1].Value));
    }

    private static HttpRequestMessage Command(string command, string jobId, string header, string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/hangfire/" + command)
        {
            Content = new FormUrlEncodedContent([new("jobs[]", jobId)]),
        };
        request.Headers.Add(header, token);
        return request;
    }

    private async Task<JsonElement> JobAsync(string id, HttpClient? client = null)
    {
        client ??= App.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/jobs");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BackstopFactory.AdminKey);
        var list = await (await client.SendAsync(request)).JsonAsync();
        return list.GetProperty("jobs").EnumerateArray().Single(j => j.GetProperty("id").GetString() == id);
    }

    [GeneratedRegex("""<meta name="csrf-header" content="([^"]+)">""")]
    private static partial Regex MetaHeader();

    [GeneratedRegex("""<meta name="csrf-token" content="([^"]+)">""")]
    private static partial Regex MetaToken();
}

public sealed class JobsDashboardTestsOnSqlite(SqliteApp<JobsDashboardSetup> app) : JobsDashboardTests(app), IClassFixture<SqliteApp<JobsDashboardSetup>>;

public sealed class JobsDashboardTestsOnPostgres(PostgresApp<JobsDashboardSetup> app) : JobsDashboardTests(app), IClassFixture<PostgresApp<JobsDashboardSetup>>;
