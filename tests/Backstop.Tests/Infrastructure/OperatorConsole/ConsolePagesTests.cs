using System.Net.Http.Json;
using Backstop.Infrastructure.Stats;

namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary>What each console page shows, read through the admin API's own stores and queries, and its actions.</summary>
public abstract class ConsolePagesTests(BackstopFactory app) : AppTest(app)
{
    private async Task<string> InsertWebhookAsync(string provider, string type, string status, string payload, string? lastError = null)
    {
        var id = Guid.CreateVersion7().ToString();
        var now = App.Time.GetUtcNow().AddMinutes(-90);
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, last_error, received_at, created_at, updated_at)
            values (@id, @provider, @eventId, @type, @payload, @status, 8, @now, @lastError, @now, @now, @now)
            """, new { id, provider, eventId = "evt_" + Guid.NewGuid().ToString("N"), type, payload, status, now, lastError });
        return id;
    }

    [Fact]
    public async Task The_inbox_lists_a_dead_stripe_event_shows_its_payload_and_an_admin_operator_replays_it()
    {
        var type = "console.test_" + Guid.NewGuid().ToString("N")[..8];
        var id = await InsertWebhookAsync("stripe", type, "dead", """{"id":"evt_1","type":"x","data":{"object":{"amount":1200}}}""", "handler blew up");
        var (browser, key) = await App.SignedInAsync("admin");

        var overview = await browser.PageAsync("/console");
        overview.ShouldContain("dead stripe webhook event(s)");
        overview.ShouldContain("1 h 30 min ago");

        var list = await browser.PageAsync($"/console/inbox?provider=stripe&status=dead&type={type}");
        list.ShouldContain(type);
        list.ShouldContain($"href=\"/console/inbox/{id}\"");
        list.ShouldContain("handler blew up");

        var page = await browser.PageAsync($"/console/inbox/{id}");
        page.ShouldContain("&quot;amount&quot;: 1200"); // pretty-printed, indented
        page.ShouldContain("Replay this event");

        var replay = await browser.PostAsync($"/console/inbox/{id}/replay", ConsoleBrowser.TokenOf(page));
        replay.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        replay.Headers.Location!.OriginalString.ShouldBe($"/console/inbox/{id}?notice=replayed");
        var after = await browser.PageAsync(replay.Headers.Location.OriginalString);
        after.ShouldContain("Replayed: its handlers ran again.");

        await using var connection = await App.OpenAsync();
        // No handler takes this type: the replay marks it ignored (acknowledged), no longer dead.
        (await connection.QuerySingleAsync<string>("select status from webhook_events where id = @id", new { id })).ShouldBe("ignored");
        (await connection.QuerySingleAsync<string>("select actor from audit_log where action = 'webhook.replay' and target_id = @id", new { id }))
            .ShouldBe("console:" + key.Name);
    }

    [Fact]
    public async Task The_inbox_says_what_would_appear_when_nothing_matches_and_refuses_an_unknown_filter()
    {
        var (browser, _) = await App.SignedInAsync("read_only");
        (await browser.PageAsync("/console/inbox?type=nothing." + Guid.NewGuid().ToString("N"))).ShouldContain("No stored webhook event matches.");
        (await browser.PageAsync("/console/inbox?status=bogus")).ShouldContain("Unknown status.");
        (await browser.PageAsync("/console/inbox/" + Guid.CreateVersion7())).ShouldContain("Webhook event not found");
    }

    [Fact]
    public async Task The_inbox_pages_with_the_api_cursor()
    {
        var type = "console.page_" + Guid.NewGuid().ToString("N")[..8];
        var ids = new List<string>();
        for (var i = 0; i < 51; i++) ids.Add(await InsertWebhookAsync("clerk", type, "processed", "{}"));
        // Pages go by id, newest first; version-7 ids made within one millisecond are not ordered by creation.
        ids.Sort(StringComparer.Ordinal);
        var (browser, _) = await App.SignedInAsync("read_only");
        var first = await browser.PageAsync($"/console/inbox?type={type}");
        first.ShouldContain($"/console/inbox/{ids[^1]}");
        first.ShouldNotContain($"/console/inbox/{ids[0]}\"");
        var next = System.Text.RegularExpressions.Regex.Match(first, "href=\"([^\"]*cursor=[^\"]+)\"").Groups[1].Value;
        next.ShouldNotBeEmpty();
        var second = await browser.PageAsync(WebUtility.HtmlDecode(next));
        second.ShouldContain($"/console/inbox/{ids[0]}\"");
        second.ShouldNotContain("Older →");
    }

    [Fact]
    public async Task An_organization_is_found_by_slug_and_its_page_shows_usage_bars_keys_members_and_audit()
    {
        var tenant = await App.CreateTenantAsync();
        var metric = "console_calls_" + Guid.NewGuid().ToString("N")[..8];
        (await App.AdminClient().PutAsync($"/v1/admin/metrics/{metric}", JsonContent.Create(new { kind = "counter", defaultLimit = 10 }))).IsSuccessStatusCode.ShouldBeTrue();
        (await App.Client(tenant).PostJsonAsync($"/v1/usage/{metric}/consume", new { amount = 3 })).IsSuccessStatusCode.ShouldBeTrue();
        var (browser, _) = await App.SignedInAsync("admin");

        var found = await browser.PageAsync($"/console/organizations?q={tenant.Organization.Slug}");
        found.ShouldContain($"href=\"/console/organizations/{tenant.Organization.Id}\"");
        (await browser.PageAsync("/console/organizations?q=" + Guid.NewGuid().ToString("N"))).ShouldContain("No live organization matches");
        // LIKE wildcards in the search are literal.
        (await browser.PageAsync("/console/organizations?q=%25")).ShouldNotContain($"/console/organizations/{tenant.Organization.Id}\"");

        var page = await browser.PageAsync($"/console/organizations/{tenant.Organization.Id}");
        page.ShouldContain($"<meter id=\"usage-{metric}\" min=\"0\" max=\"10\" value=\"3\"");
        page.ShouldContain("3 of 10");
        page.ShouldContain(tenant.ApiKey.Prefix);
        page.ShouldContain("Revoke");
        page.ShouldContain("organization.create");
        page.ShouldContain("No member.");
    }

    [Fact]
    public async Task An_admin_operator_revokes_a_key_from_the_organization_page_and_the_key_stops_working()
    {
        var tenant = await App.CreateTenantAsync();
        var (browser, key) = await App.SignedInAsync("admin");
        var page = await browser.PageAsync($"/console/organizations/{tenant.Organization.Id}");
        var response = await browser.PostAsync($"/console/organizations/{tenant.Organization.Id}/api-keys/{tenant.ApiKey.Id}/revoke", ConsoleBrowser.TokenOf(page));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await browser.PageAsync(response.Headers.Location!.OriginalString)).ShouldContain("The key was revoked");
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        await using var connection = await App.OpenAsync();
        (await connection.QuerySingleAsync<string>("select actor from audit_log where action = 'api_key.revoke' and target_id = @Id", new { tenant.ApiKey.Id }))
            .ShouldBe("console:" + key.Name);
        // Another organization's key through this organization's route: not found, nothing revoked.
        var other = await App.CreateTenantAsync();
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console"));
        (await browser.PostAsync($"/console/organizations/{tenant.Organization.Id}/api-keys/{other.ApiKey.Id}/revoke", token)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await App.Client(other).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_read_only_operator_sees_every_page_and_no_action_button()
    {
        var tenant = await App.CreateTenantAsync();
        var id = await InsertWebhookAsync("stripe", "console.ro", "dead", "{}");
        var (browser, _) = await App.SignedInAsync("read_only");
        foreach (var url in new[] { "/console", "/console/inbox", $"/console/inbox/{id}", "/console/inbox/replays", "/console/inbox/replays?status=dead&count=1",
                     "/console/organizations", $"/console/organizations/{tenant.Organization.Id}", "/console/audit" })
        {
            var html = await browser.PageAsync(url);
            // The only form that posts is sign-out.
            System.Text.RegularExpressions.Regex.Matches(html, "method=\"post\"").Count.ShouldBe(1, url);
            html.ShouldNotContain("Replay this event");
            html.ShouldNotContain(">Revoke<");
        }
    }

    [Fact]
    public async Task The_audit_log_filters_by_actor_and_action()
    {
        var (browser, key) = await App.SignedInAsync("read_only");
        var html = await browser.PageAsync($"/console/audit?actor=console:{key.Name}&action=console.sign_in");
        html.ShouldContain("console.sign_in");
        html.ShouldContain(key.Id);
        (await browser.PageAsync("/console/audit?action=nonsense")).ShouldContain("Unknown action.");
        (await browser.PageAsync("/console/audit?actor=nobody-" + Guid.NewGuid().ToString("N"))).ShouldContain("No audit entry matches.");
    }

    [Fact]
    public async Task No_page_loads_or_links_anything_from_another_host()
    {
        var tenant = await App.CreateTenantAsync();
        var id = await InsertWebhookAsync("stripe", "console.hosts", "dead", """{"url":"https://example.com/x"}""");
        var (browser, _) = await App.SignedInAsync("admin");
        foreach (var url in new[] { "/console/sign-in", "/console", "/console/inbox", $"/console/inbox/{id}", "/console/inbox/replays?status=dead&count=1",
                     "/console/organizations", $"/console/organizations/{tenant.Organization.Id}", "/console/audit" })
        {
            var html = await browser.PageAsync(url);
            // Every src, href and action is a path of this server (the pager's absolute links name this host).
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(html, "(?:src|href|action)=\"([^\"]*)\""))
            {
                var target = WebUtility.HtmlDecode(m.Groups[1].Value);
                (target.StartsWith('/') && !target.StartsWith("//", StringComparison.Ordinal) || target.StartsWith("#", StringComparison.Ordinal)
                    || target.StartsWith("http://localhost/", StringComparison.Ordinal)).ShouldBeTrue($"{url}: {target}");
            }
            html.ShouldNotContain("<script");
        }
    }

    [Fact]
    public async Task The_overview_charts_the_last_24_hours_of_counts_as_svg_with_a_table_of_its_figures()
    {
        // Subjects of their own (the table takes any text), so other tests' traffic never shows in these charts.
        var provider = "prov" + Guid.NewGuid().ToString("N")[..8];
        var channel = "chan" + Guid.NewGuid().ToString("N")[..8];
        var now = App.Time.GetUtcNow();
        var db = App.Service<Db>();
        await db.InTransactionAsync((c, t) => HourlyCounts.AddAsync(c, t, now.AddHours(-5),
            [new HourlyIncrement(HourlyCountKinds.Webhook, provider, "processed", 6), new HourlyIncrement(HourlyCountKinds.Webhook, provider, "dead", 2)], CancellationToken.None));
        await db.InTransactionAsync((c, t) => HourlyCounts.AddAsync(c, t, now,
            [new HourlyIncrement(HourlyCountKinds.Webhook, provider, "processed", 4), new HourlyIncrement(HourlyCountKinds.Outbox, channel, "sent", 3)], CancellationToken.None));
        // 25 hours ago: outside the window, in no chart.
        await db.InTransactionAsync((c, t) => HourlyCounts.AddAsync(c, t, now.AddHours(-25),
            [new HourlyIncrement(HourlyCountKinds.Webhook, provider, "failed", 50)], CancellationToken.None));
        var (browser, _) = await App.SignedInAsync("read_only");

        var html = await browser.PageAsync("/console");

        var id = $"chart-webhook-{provider}";
        html.ShouldContain($"<svg class=\"chart\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\"");
        html.ShouldContain($"<title id=\"{id}-title\">Webhooks received from {provider}, per hour by outcome</title>");
        var hourLabel = (DateTimeOffset h) => h.UtcDateTime.ToString("HH:00", System.Globalization.CultureInfo.InvariantCulture);
        var busiest = hourLabel(now.AddHours(-5));
        html.ShouldContain($"12 in the 24 hours from {hourLabel(now.AddHours(-23))} to {hourLabel(now)} UTC (dead 2, processed 10); busiest hour {busiest} UTC with 8.");
        // The busiest hour's stack is the full plot height (100), split 2 dead + 6 processed; the later hour is half of it.
        html.ShouldContain($"height=\"75\" fill=\"#1a6b32\"><title>{busiest} UTC, processed: 6</title>");
        html.ShouldContain($"height=\"25\" fill=\"#a1161b\"><title>{busiest} UTC, dead: 2</title>");
        html.ShouldContain($"height=\"50\" fill=\"#1a6b32\"><title>{hourLabel(now)} UTC, processed: 4</title>");
        html.ShouldNotContain("failed: 50");
        // The table alternative: a row per hour with a header cell, a column per series.
        System.Text.RegularExpressions.Regex.IsMatch(html, $"<th scope=\"row\">{busiest}</th>\\s*<td>2</td>\\s*<td>6</td>\\s*<td>8</td>").ShouldBeTrue();
        html.ShouldContain("<title id=\"chart-outbox-title\">Outbox sends, per hour by channel</title>");
        html.ShouldContain($"{hourLabel(now)} UTC, {channel}: 3");
        html.ShouldNotContain("<script");
    }

    [Fact]
    public async Task The_stylesheet_is_served_by_the_binary()
    {
        var response = await App.CreateClient().GetAsync("/console/console.css");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/css");
        (await response.Content.ReadAsStringAsync()).ShouldContain("meter");
    }
}

public sealed class ConsolePagesTestsOnSqlite(SqliteApp<DefaultSetup> app) : ConsolePagesTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ConsolePagesTestsOnPostgres(PostgresApp<DefaultSetup> app) : ConsolePagesTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
