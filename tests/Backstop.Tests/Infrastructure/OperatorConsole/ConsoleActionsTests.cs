using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Backstop.Features.Billing;
using Backstop.Infrastructure.Inbox;

namespace Backstop.Tests.Infrastructure.OperatorConsole;

/// <summary>The console's actions beyond a single replay and a key revocation: bulk replay, and what each refuses to a read-only operator.</summary>
public abstract class ConsoleActionsTests(BackstopFactory app) : AppTest(app)
{
    private async Task<List<string>> InsertWebhooksAsync(int n, string provider, string type, string status, string payload = "{}")
    {
        var ids = new List<string>();
        var at = App.Time.GetUtcNow().AddMinutes(-30);
        await using var connection = await App.OpenAsync();
        for (var i = 0; i < n; i++)
        {
            var id = Guid.CreateVersion7().ToString();
            await connection.ExecuteAsync(
                """
                insert into webhook_events (id, provider, event_id, event_type, payload, status, attempts, next_attempt_at, last_error, received_at, created_at, updated_at)
                values (@id, @provider, @eventId, @type, @payload, @status, 8, @at, null, @at, @at, @at)
                """, new { id, provider, eventId = "evt_" + Guid.NewGuid().ToString("N"), type, payload, status, at });
            ids.Add(id);
        }
        return ids;
    }

    private async Task<long> CountAsync(string sql, object args)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }

    private static string ReplayIdOf(HttpResponseMessage redirect)
    {
        redirect.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var m = Regex.Match(redirect.Headers.Location!.OriginalString, "^/console/inbox/replays/([^/?]+)\\?notice=(\\w+)$");
        m.Success.ShouldBeTrue(redirect.Headers.Location.OriginalString);
        return m.Groups[1].Value;
    }

    [Fact]
    public async Task A_bulk_replay_counts_the_filters_matches_first_then_starts_and_shows_its_progress_to_completion()
    {
        var type = "console.bulk_" + Guid.NewGuid().ToString("N")[..8];
        var dead = await InsertWebhooksAsync(3, "stripe", type, "dead");
        await InsertWebhooksAsync(2, "stripe", type, "failed"); // the inbox job's to retry: never in a replay
        await InsertWebhooksAsync(1, "clerk", type, "dead");
        var (browser, key) = await App.SignedInAsync("admin");

        (await browser.PageAsync($"/console/inbox?type={type}&status=dead")).ShouldContain($"href=\"/console/inbox/replays?status=dead&amp;type={type}&amp;count=1\"");
        var blank = await browser.PageAsync($"/console/inbox/replays?type={type}");
        blank.ShouldContain("No count yet");
        blank.ShouldNotContain("Replay these");

        var counted = await browser.PageAsync($"/console/inbox/replays?provider=stripe&type={type}&count=1");
        counted.ShouldContain("<strong>3</strong> stored event(s) match this filter now.");
        counted.ShouldContain("Replay these 3 event(s)");
        (await CountAsync("select count(*) from webhook_replays where event_type = @type", new { type })).ShouldBe(0); // a dry run starts nothing

        var started = await browser.PostAsync("/console/inbox/replays/start", ConsoleBrowser.TokenOf(counted), ("provider", "stripe"), ("status", ""), ("type", type),
            ("from", ""), ("to", ""), ("q", ""));
        var replayId = ReplayIdOf(started);
        var running = await browser.PageAsync(started.Headers.Location!.OriginalString);
        running.ShouldContain("Bulk replay: running");
        running.ShouldContain("0 of 3 done");
        running.ShouldContain("Cancel this replay");
        (await CountAsync("select count(*) from audit_log where action = 'webhook_replay.create' and target_id = @replayId and actor = @actor",
            new { replayId, actor = "console:" + key.Name })).ShouldBe(1);

        await App.Service<WebhookReplays>().ProcessBatchAsync(replayId, CancellationToken.None);

        var done = await browser.PageAsync($"/console/inbox/replays/{replayId}");
        done.ShouldContain("Bulk replay: completed");
        done.ShouldContain("3 of 3 done");
        done.ShouldNotContain("Cancel this replay");
        // No handler takes this type: replayed events end ignored; the clerk one and the failed ones are untouched.
        (await CountAsync("select count(*) from webhook_events where event_type = @type and status = 'ignored' and provider = 'stripe'", new { type })).ShouldBe(3);
        (await CountAsync("select count(*) from webhook_events where event_type = @type and status = 'dead'", new { type })).ShouldBe(1);
        dead.Count.ShouldBe(3);
    }

    [Fact]
    public async Task A_running_bulk_replay_is_cancelled_and_a_finished_one_stays_as_it_is()
    {
        var type = "console.cancel_" + Guid.NewGuid().ToString("N")[..8];
        await InsertWebhooksAsync(2, "paddle", type, "processed");
        var (browser, key) = await App.SignedInAsync("admin");
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console/inbox/replays"));
        var replayId = ReplayIdOf(await browser.PostAsync("/console/inbox/replays/start", token, ("type", type), ("status", "processed")));

        var cancelled = await browser.PostAsync($"/console/inbox/replays/{replayId}/cancel", token);
        cancelled.Headers.Location!.OriginalString.ShouldBe($"/console/inbox/replays/{replayId}?notice=cancelled");
        var page = await browser.PageAsync(cancelled.Headers.Location.OriginalString);
        page.ShouldContain("Bulk replay: cancelled");
        page.ShouldContain("0 of 2 done");
        (await CountAsync("select count(*) from audit_log where action = 'webhook_replay.cancel' and target_id = @replayId and actor = @actor",
            new { replayId, actor = "console:" + key.Name })).ShouldBe(1);
        (await App.Service<WebhookReplays>().ProcessBatchAsync(replayId, CancellationToken.None)).ShouldBe((0, true));
        (await CountAsync("select count(*) from webhook_events where event_type = @type and status = 'processed' and replay_count = 0", new { type })).ShouldBe(2);

        var again = await browser.PostAsync($"/console/inbox/replays/{replayId}/cancel", token);
        again.Headers.Location!.OriginalString.ShouldBe($"/console/inbox/replays/{replayId}?notice=finished");
        (await browser.PostAsync($"/console/inbox/replays/{Guid.CreateVersion7()}/cancel", token)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await browser.PageAsync($"/console/inbox/replays/{Guid.CreateVersion7()}")).ShouldContain("Bulk replay not found");
    }

    [Fact]
    public async Task A_bulk_replay_refuses_a_filter_the_api_would_refuse_and_starts_nothing()
    {
        var type = "console.badfilter_" + Guid.NewGuid().ToString("N")[..8];
        var (browser, _) = await App.SignedInAsync("admin");
        (await browser.PageAsync($"/console/inbox/replays?status=failed&type={type}&count=1")).ShouldContain("Only processed, ignored or dead events are replayed");
        (await browser.PageAsync("/console/inbox/replays?provider=acme&count=1")).ShouldContain("Unknown provider.");
        (await browser.PageAsync("/console/inbox/replays?from=2026-11-23T10:00&to=2026-11-23T09:00&count=1")).ShouldContain("must be after");
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console/inbox/replays"));
        (await browser.PostAsync("/console/inbox/replays/start", token, ("type", type), ("status", "received"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync("/console/inbox/replays/start", token, ("type", type), ("from", "yesterday"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await CountAsync("select count(*) from webhook_replays where event_type = @type", new { type })).ShouldBe(0);
    }

    [Fact]
    public async Task The_bulk_replay_filter_takes_a_utc_time_range_and_a_text()
    {
        var type = "console.range_" + Guid.NewGuid().ToString("N")[..8];
        await InsertWebhooksAsync(2, "stripe", type, "dead", """{"customer":"cus_Needle"}""");
        await InsertWebhooksAsync(1, "stripe", type, "dead", """{"customer":"cus_other"}""");
        var (browser, _) = await App.SignedInAsync("read_only");
        var received = App.Time.GetUtcNow().AddMinutes(-30).UtcDateTime;
        string Local(DateTime t) => t.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        (await browser.PageAsync($"/console/inbox/replays?type={type}&q=needle&count=1")).ShouldContain("<strong>2</strong> stored event(s)");
        (await browser.PageAsync($"/console/inbox/replays?type={type}&from={Local(received.AddMinutes(-1))}&to={Local(received.AddMinutes(1))}&count=1"))
            .ShouldContain("<strong>3</strong> stored event(s)");
        var none = await browser.PageAsync($"/console/inbox/replays?type={type}&from={Local(received.AddMinutes(1))}&count=1");
        none.ShouldContain("No replayable event matches this filter");
        // A read-only operator counts, but is offered no start.
        (await browser.PageAsync($"/console/inbox/replays?type={type}&count=1")).ShouldNotContain("Replay these");
    }

    [Fact]
    public async Task A_read_only_operator_is_refused_every_action_with_403_and_nothing_changes()
    {
        var type = "console.ro_" + Guid.NewGuid().ToString("N")[..8];
        var ids = await InsertWebhooksAsync(1, "stripe", type, "dead");
        var (admin, _) = await App.SignedInAsync("admin");
        var adminToken = ConsoleBrowser.TokenOf(await admin.PageAsync("/console/inbox/replays"));
        var replayId = ReplayIdOf(await admin.PostAsync("/console/inbox/replays/start", adminToken, ("type", type)));
        var (browser, _) = await App.SignedInAsync("read_only");
        var token = ConsoleBrowser.TokenOf(await browser.PageAsync("/console"));

        (await browser.PostAsync("/console/inbox/replays/start", token, ("type", type))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await browser.PostAsync($"/console/inbox/replays/{replayId}/cancel", token)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await browser.PostAsync($"/console/inbox/{ids[0]}/replay", token)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        (await CountAsync("select count(*) from webhook_replays where event_type = @type", new { type })).ShouldBe(1);
        (await CountAsync("select count(*) from webhook_replays where id = @replayId and state = 'running'", new { replayId })).ShouldBe(1);
        (await CountAsync("select count(*) from webhook_events where id = @id and status = 'dead'", new { id = ids[0] })).ShouldBe(1);
        (await browser.PageAsync($"/console/inbox/replays/{replayId}")).ShouldNotContain("Cancel this replay");
    }

    /// <summary>A tenant on a plan allowing 10 of a metric, that used 3, then went into <paramref name="status"/> (grace ended an hour ago when past due or suspended).</summary>
    private async Task<(TestTenant Tenant, string Metric)> TenantAsync(string status)
    {
        var tenant = await App.CreateTenantAsync();
        var metric = "console_reset_" + Guid.NewGuid().ToString("N")[..8];
        (await App.AdminClient().PutAsync($"/v1/admin/metrics/{metric}", JsonContent.Create(new { kind = "counter", defaultLimit = 10 }))).IsSuccessStatusCode.ShouldBeTrue();
        var plan = "plan-" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long> { [metric] = 10 });
        // Active while it consumes (the period follows the subscription's anchor), then moved to the status asked for.
        await App.PlantSubscriptionAsync(tenant.Organization.Id, plan, "active");
        (await App.Client(tenant).PostJsonAsync($"/v1/usage/{metric}/consume", new { amount = 3 })).IsSuccessStatusCode.ShouldBeTrue();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync("update subscriptions set status = @status, grace_ends_at = @graceEndsAt where organization_id = @organizationId",
            new { status, graceEndsAt = status is "suspended" or "past_due" ? App.Time.GetUtcNow().AddHours(-1) : (DateTimeOffset?)null, organizationId = tenant.Organization.Id });
        return (tenant, metric);
    }

    private static string Local(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture);

    private Task<long> AuditCountAsync(string action, string organizationId, string? actor = null) =>
        CountAsync("select count(*) from audit_log where action = @action and organization_id = @organizationId and (@actor is null or actor = @actor)",
            new { action, organizationId, actor });

    [Fact]
    public async Task An_admin_operator_extends_a_grace_lifts_a_suspension_and_resets_a_usage_counter_from_the_organization_page()
    {
        var (tenant, metric) = await TenantAsync("suspended");
        var orgId = tenant.Organization.Id;
        var gate = App.Service<IAccessGate>();
        var (browser, key) = await App.SignedInAsync("admin");
        var page = await browser.PageAsync($"/console/organizations/{orgId}");
        page.ShouldContain("Extend grace");
        page.ShouldContain("Lift suspension");
        page.ShouldContain($"<option value=\"{metric}\">{metric} (3 used)</option>");
        page.ShouldContain("3 of 10");
        var token = ConsoleBrowser.TokenOf(page);

        var until = Local(App.Time.GetUtcNow().AddDays(3));
        var grace = await browser.PostAsync($"/console/organizations/{orgId}/grace", token, ("until", until));
        grace.Headers.Location!.OriginalString.ShouldBe($"/console/organizations/{orgId}?notice=grace_extended");
        var access = await gate.GetAsync(orgId, CancellationToken.None);
        access.State.ShouldBe("past_due");
        access.GraceEndsAt.ShouldBe(DateTimeOffset.ParseExact(until, "yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        access.CanUse.ShouldBeTrue();
        (await AuditCountAsync("subscription.grace_extend", orgId, "console:" + key.Name)).ShouldBe(1);

        var lift = await browser.PostAsync($"/console/organizations/{orgId}/suspension-lift", token, ("days", "2"), ("reason", "paid by bank transfer"));
        lift.Headers.Location!.OriginalString.ShouldBe($"/console/organizations/{orgId}?notice=suspension_lifted");
        (await gate.GetAsync(orgId, CancellationToken.None)).SuspensionLiftedUntil.ShouldBe(App.Time.GetUtcNow().AddDays(2));
        (await gate.GetAsync(orgId, CancellationToken.None)).CanCreate.ShouldBeTrue();
        (await AuditCountAsync("subscription.suspension_lift", orgId, "console:" + key.Name)).ShouldBe(1);

        var reset = await browser.PostAsync($"/console/organizations/{orgId}/usage-reset", token, ("metric", metric), ("reason", "double-counted import"));
        reset.Headers.Location!.OriginalString.ShouldBe($"/console/organizations/{orgId}?notice=usage_reset");
        var after = await browser.PageAsync(reset.Headers.Location.OriginalString);
        after.ShouldContain("The usage counter was reset to 0");
        after.ShouldContain("0 of 10");
        after.ShouldContain("Suspension lifted until");
        (await AuditCountAsync("usage.reset", orgId, "console:" + key.Name)).ShouldBe(1);
        (await App.Client(tenant).PostJsonAsync($"/v1/usage/{metric}/consume", new { amount = 10 })).IsSuccessStatusCode.ShouldBeTrue(); // the whole allowance again
    }

    [Fact]
    public async Task The_organization_actions_refuse_what_the_api_refuses_and_change_nothing()
    {
        var (active, metric) = await TenantAsync("active");
        var orgId = active.Organization.Id;
        var (browser, _) = await App.SignedInAsync("admin");
        var page = await browser.PageAsync($"/console/organizations/{orgId}");
        page.ShouldNotContain("Extend grace"); // an active subscription has no grace period to extend
        var token = ConsoleBrowser.TokenOf(page);

        var notPastDue = await browser.PostAsync($"/console/organizations/{orgId}/grace", token, ("until", Local(App.Time.GetUtcNow().AddDays(3))));
        notPastDue.Headers.Location!.OriginalString.ShouldBe($"/console/organizations/{orgId}?notice=not_past_due");
        (await browser.PageAsync(notPastDue.Headers.Location.OriginalString)).ShouldContain("Not extended: only a past-due or suspended subscription");
        (await browser.PostAsync($"/console/organizations/{orgId}/grace", token, ("until", Local(App.Time.GetUtcNow().AddDays(-1))))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync($"/console/organizations/{orgId}/grace", token, ("until", "soon"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync($"/console/organizations/{orgId}/suspension-lift", token, ("days", "0"), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync($"/console/organizations/{orgId}/suspension-lift", token, ("days", "91"), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync($"/console/organizations/{orgId}/suspension-lift", token, ("days", "3"), ("reason", " "))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync($"/console/organizations/{orgId}/usage-reset", token, ("metric", metric), ("reason", ""))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await browser.PostAsync("/console/organizations/nope/suspension-lift", token, ("days", "3"), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await browser.PostAsync("/console/organizations/nope/usage-reset", token, ("metric", metric), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        (await App.Service<IAccessGate>().GetAsync(orgId, CancellationToken.None)).SuspensionLiftedUntil.ShouldBeNull();
        (await browser.PageAsync($"/console/organizations/{orgId}")).ShouldContain("3 of 10");
        foreach (var action in new[] { "subscription.grace_extend", "subscription.suspension_lift", "usage.reset" })
            (await AuditCountAsync(action, orgId)).ShouldBe(0, action);
    }

    [Fact]
    public async Task A_read_only_operator_posting_each_organization_action_gets_403_and_nothing_changes()
    {
        var (tenant, metric) = await TenantAsync("suspended");
        var orgId = tenant.Organization.Id;
        var (browser, _) = await App.SignedInAsync("read_only");
        var page = await browser.PageAsync($"/console/organizations/{orgId}");
        page.ShouldNotContain("Operator actions");
        var token = ConsoleBrowser.TokenOf(page);
        var before = await App.Service<IAccessGate>().GetAsync(orgId, CancellationToken.None);

        (await browser.PostAsync($"/console/organizations/{orgId}/grace", token, ("until", Local(App.Time.GetUtcNow().AddDays(3))))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await browser.PostAsync($"/console/organizations/{orgId}/suspension-lift", token, ("days", "2"), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await browser.PostAsync($"/console/organizations/{orgId}/usage-reset", token, ("metric", metric), ("reason", "x"))).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await browser.PostAsync($"/console/organizations/{orgId}/api-keys/{tenant.ApiKey.Id}/revoke", token)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var after = await App.Service<IAccessGate>().GetAsync(orgId, CancellationToken.None);
        after.State.ShouldBe("suspended");
        after.GraceEndsAt.ShouldBe(before.GraceEndsAt);
        after.SuspensionLiftedUntil.ShouldBeNull();
        (await browser.PageAsync($"/console/organizations/{orgId}")).ShouldContain("3 of 10");
        (await App.Client(tenant).GetAsync("/v1/me")).StatusCode.ShouldBe(HttpStatusCode.OK);
        foreach (var action in new[] { "subscription.grace_extend", "subscription.suspension_lift", "usage.reset", "api_key.revoke" })
            (await AuditCountAsync(action, orgId)).ShouldBe(0, action);
    }
}

public sealed class ConsoleActionsTestsOnSqlite(SqliteApp<DefaultSetup> app) : ConsoleActionsTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ConsoleActionsTestsOnPostgres(PostgresApp<DefaultSetup> app) : ConsoleActionsTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
