using Backstop.Features.Billing;
using Backstop.Features.Billing.PlanChanges;
using Backstop.Infrastructure.Errors;
using Backstop.Infrastructure.Jobs;

namespace Backstop.Tests.Features.Billing;

/// <summary>Plan changes: the preview, an upgrade at once, a downgrade scheduled at Stripe and applied at the period boundary, cancellation.</summary>
public abstract class PlanChangeTests(BackstopFactory app) : AppTest(app)
{
    protected StripeTestServer Stripe => App.SetupAs<PlanChangeSetup>().Stripe;

    private async Task<(string? Plan, string? Pending, DateTimeOffset? PendingAt, string? Schedule)> LocalAsync(string rowId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string?, string?, DateTimeOffset?, string?)>(
            "select plan_code, pending_plan_code, pending_change_at, pending_schedule_id from subscriptions where id = @rowId", new { rowId });
    }

    /// <summary>Usage over the basic plan on every metric: 3 meetings this period, 3 members, 1800 stored bytes.</summary>
    private async Task OverBasicAsync(PlanArrangement a, DateTimeOffset at)
    {
        for (var i = 0; i < 3; i++) await App.InsertMeetingAsync(a.OrganizationId, at, audioBytes: 600);
        await App.AddPlanMemberAsync(a.OrganizationId, $"m1-{Guid.NewGuid():N}@example.com");
        await App.AddPlanMemberAsync(a.OrganizationId, $"m2-{Guid.NewGuid():N}@example.com");
    }

    [Fact]
    public async Task The_preview_of_a_downgrade_lists_each_violation_type_with_its_sentence_and_changes_nothing()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await OverBasicAsync(a, App.Time.GetUtcNow());

        var response = await App.Client(a.Tenant).GetAsync($"/v1/billing/plan-change?plan={a.Basic}");

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("direction").GetString().ShouldBe("downgrade");
        body.GetProperty("effectiveAt").GetDateTimeOffset().ShouldBe(a.PeriodEnd);
        body.GetProperty("prorationAmount").ValueKind.ShouldBe(JsonValueKind.Null);
        var violations = body.GetProperty("violations").EnumerateArray().ToDictionary(v => v.GetProperty("type").GetString()!);
        violations.Keys.ShouldBe(["meetings", "team_members", "storage"], ignoreOrder: true);
        violations["meetings"].GetProperty("current").GetInt64().ShouldBe(3);
        violations["meetings"].GetProperty("limit").GetInt64().ShouldBe(2);
        violations["meetings"].GetProperty("action").GetString().ShouldBe("read_only");
        violations["team_members"].GetProperty("sentence").GetString().ShouldBe($"Your team has 3 members but the {a.Basic} plan allows 1");
        violations["team_members"].GetProperty("action").GetString().ShouldBe("notify_admin");
        violations["storage"].GetProperty("current").GetInt64().ShouldBe(1800);
        violations["storage"].GetProperty("action").GetString().ShouldBe("grace_period");
        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Pro, null, null, null));
        Stripe.Received("POST", "/v1/subscription_schedules").ShouldNotContain(r => r.Form.GetValueOrDefault("from_subscription") == a.StripeSubscriptionId);
    }

    [Fact]
    public async Task The_preview_of_an_upgrade_gives_the_Stripe_prorated_amount_or_null_with_a_reason_when_Stripe_fails()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);

        var body = await (await client.GetAsync($"/v1/billing/plan-change?plan={a.Max}")).JsonAsync();

        body.GetProperty("direction").GetString().ShouldBe("upgrade");
        body.GetProperty("prorationAmount").GetInt64().ShouldBe(PlanChangeSetup.ProrationAmount);
        body.GetProperty("currency").GetString().ShouldBe("eur");
        body.GetProperty("violations").GetArrayLength().ShouldBe(0);
        var preview = Stripe.Received("POST", "/v1/invoices/create_preview").Single(r => r.Form.GetValueOrDefault("subscription") == a.StripeSubscriptionId);
        preview.Form["subscription"].ShouldBe(a.StripeSubscriptionId);
        preview.Form["subscription_details[items][0][id]"].ShouldBe("si_" + a.StripeSubscriptionId);
        preview.Form["subscription_details[items][0][price]"].ShouldBe("price_" + a.Max);
        preview.Form["subscription_details[proration_behavior]"].ShouldBe("create_prorations");

        App.SetupAs<PlanChangeSetup>().Refusing[a.StripeSubscriptionId] = true;
        var failed = await (await client.GetAsync($"/v1/billing/plan-change?plan={a.Max}")).JsonAsync();
        failed.GetProperty("direction").GetString().ShouldBe("upgrade");
        failed.GetProperty("prorationAmount").ValueKind.ShouldBe(JsonValueKind.Null);
        failed.GetProperty("prorationUnavailableReason").GetString()!.ShouldContain("Stripe");
        await (await client.GetAsync("/v1/billing/plan-change?plan=no-such-plan")).ShouldBeProblemAsync(404, "plan_not_found");
        await (await client.GetAsync("/v1/billing/plan-change")).ShouldBeProblemAsync(400, "validation_failed");
    }

    [Fact]
    public async Task An_upgrade_is_immediate_prorated_at_Stripe_and_clears_stored_violations()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await PlantViolationAsync(a.OrganizationId, "team_members", "notify_admin");
        (await App.Service<IAccessGate>().GetAsync(a.OrganizationId, CancellationToken.None)).Violations.Count.ShouldBe(1);

        var response = await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max });

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("direction").GetString().ShouldBe("upgrade");
        body.GetProperty("effectiveAt").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow());
        body.GetProperty("violationsCleared").GetInt32().ShouldBe(1);
        var update = Stripe.Received("POST", $"/v1/subscriptions/{a.StripeSubscriptionId}").Single();
        update.Form["items[0][id]"].ShouldBe("si_" + a.StripeSubscriptionId);
        update.Form["items[0][price]"].ShouldBe("price_" + a.Max);
        update.Form["proration_behavior"].ShouldBe("always_invoice");
        update.Form["payment_behavior"].ShouldBe("pending_if_incomplete");
        update.Form["proration_date"].ShouldBe(App.Time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Stripe.Invoices.Values.ShouldContain(i => (string?)i["customer"] == (string?)Stripe.Snapshot(a.StripeSubscriptionId)["customer"] && (string?)i["status"] == "paid");
        update.IdempotencyKey.ShouldBe($"plan-change:{a.StripeSubscriptionId}:{a.Pro}->{a.Max}:{a.RowVersion.ToUnixTimeMilliseconds()}");
        (await LocalAsync(a.SubscriptionRowId)).Plan.ShouldBe(a.Max);
        (await (await App.Client(a.Tenant).GetAsync("/v1/billing/violations")).JsonAsync()).GetProperty("violations").GetArrayLength().ShouldBe(0);
        (await App.Service<IAccessGate>().GetAsync(a.OrganizationId, CancellationToken.None)).Violations.ShouldBeEmpty();
        await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).ShouldBeProblemAsync(409, "plan_unchanged");
    }

    [Fact]
    public async Task A_downgrade_is_scheduled_at_Stripe_and_applies_at_the_boundary_storing_violations_and_emailing_once_when_the_event_comes_twice()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);

        var response = await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic });

        var body = await response.JsonAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("direction").GetString().ShouldBe("downgrade");
        body.GetProperty("pendingChange").GetProperty("plan").GetString().ShouldBe(a.Basic);
        body.GetProperty("pendingChange").GetProperty("effectiveAt").GetDateTimeOffset().ShouldBe(a.PeriodEnd);
        var created = Stripe.Received("POST", "/v1/subscription_schedules").Single(r => r.Form.GetValueOrDefault("from_subscription") == a.StripeSubscriptionId);
        var scheduleId = (await LocalAsync(a.SubscriptionRowId)).Schedule!;
        scheduleId.ShouldStartWith("sub_sched_");
        created.IdempotencyKey.ShouldBe($"plan-change-schedule:{a.StripeSubscriptionId}:{a.RowVersion.ToUnixTimeMilliseconds()}");
        var phases = Stripe.Received("POST", $"/v1/subscription_schedules/{scheduleId}").Single();
        phases.Form["end_behavior"].ShouldBe("release");
        phases.Form["phases[0][items][0][price]"].ShouldBe("price_" + a.Pro);
        phases.Form["phases[0][start_date]"].ShouldBe(a.PeriodStart.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        phases.Form["phases[0][end_date]"].ShouldBe(a.PeriodEnd.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        phases.Form["phases[1][items][0][price]"].ShouldBe("price_" + a.Basic);
        phases.Form["phases[1][duration][interval]"].ShouldBe("month");
        phases.IdempotencyKey.ShouldBe($"plan-change:{a.StripeSubscriptionId}:{a.Pro}->{a.Basic}:{a.RowVersion.ToUnixTimeMilliseconds()}");
        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Pro, a.Basic, a.PeriodEnd, scheduleId));
        await (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).ShouldBeProblemAsync(409, "plan_change_pending");

        // The boundary: Stripe moves the item to the basic price and sends the update (twice, as two events, one of them repeated).
        App.Time.Advance(a.PeriodEnd - App.Time.GetUtcNow());
        var boundary = App.Time.GetUtcNow();
        await OverBasicAsync(a, boundary);
        var updated = PlanChangeKit.SubscriptionObject(a.StripeSubscriptionId, "price_" + a.Basic, boundary, boundary.AddDays(30));
        var webhook = App.CreateClient();
        var firstEvent = "evt_" + Guid.NewGuid().ToString("N");
        foreach (var eventId in new[] { firstEvent, firstEvent, "evt_" + Guid.NewGuid().ToString("N") })
            (await webhook.SendAsync(StripeSetup.Event(eventId, "customer.subscription.updated", updated, boundary, boundary))).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Basic, null, null, null));
        var stored = (await (await client.GetAsync("/v1/billing/violations")).JsonAsync()).GetProperty("violations").EnumerateArray()
            .ToDictionary(v => v.GetProperty("type").GetString()!);
        stored.Keys.ShouldBe(["meetings", "team_members", "storage"], ignoreOrder: true);
        stored["team_members"].GetProperty("current").GetInt64().ShouldBe(3);
        stored["team_members"].GetProperty("blocking").GetBoolean().ShouldBeTrue();
        stored["storage"].GetProperty("graceEndsAt").GetDateTimeOffset().ShouldBe(boundary.AddDays(30));
        stored["storage"].GetProperty("blocking").GetBoolean().ShouldBeFalse();
        var emails = (await EmailsToAsync(a.OwnerEmail)).Where(p => p.Contains("plan: action needed", StringComparison.Ordinal)).ToList();
        emails.Count.ShouldBe(1);
        emails[0].ShouldContain($"Your team has 3 members but the {a.Basic} plan allows 1");
    }

    [Fact]
    public async Task Under_violations_creation_of_the_violated_metrics_is_refused_with_403_plan_violation_and_reads_work()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await ApplyDowngradeAsync(a);
        var gate = App.Service<IAccessGate>();

        var meetings = await Should.ThrowAsync<ProblemException>(() => gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "meetings_per_month", CancellationToken.None));
        meetings.Status.ShouldBe(403);
        meetings.Code.ShouldBe("plan_violation");
        meetings.Message.ShouldContain("meetings this billing period");
        meetings.Extensions!["action"].ShouldBe("read_only");
        var members = await Should.ThrowAsync<ProblemException>(() => gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "team_members", CancellationToken.None));
        members.Code.ShouldBe("plan_violation");
        members.Message.ShouldBe($"Your team has 3 members but the {a.Basic} plan allows 1");
        members.Extensions!["current"].ShouldBe(3L);
        members.Extensions!["limit"].ShouldBe(1L);
        // Storage is still in its grace period; reads and ungated actions go on.
        await gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "storage_bytes", CancellationToken.None);
        await gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Use, null, CancellationToken.None);
        var client = App.Client(a.Tenant);
        (await client.GetAsync("/v1/meetings")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/v1/billing/violations")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Through HTTP: meeting creation answers the gate's 403, GET /v1/billing/access shows what blocks, an upgrade lifts it.
        var meeting = new { title = "Planning", meetingUrl = $"https://zoom.us/j/{Random.Shared.NextInt64(10_000_000_000, 99_999_999_999)}", startBot = false };
        var refused = await (await client.PostJsonAsync("/v1/meetings", meeting)).ShouldBeProblemAsync(403, "plan_violation");
        refused.GetProperty("metric").GetString().ShouldBe("meetings_per_month");
        refused.GetProperty("detail").GetString()!.ShouldContain($"the {a.Basic} plan allows 2 per month");
        var access = await (await client.GetAsync("/v1/billing/access")).JsonAsync();
        access.GetProperty("violations").EnumerateArray().Select(v => (v.GetProperty("metric").GetString(), v.GetProperty("blocking").GetBoolean()))
            .ShouldBe([("meetings_per_month", true), ("storage_bytes", false), ("team_members", true)], ignoreOrder: true);
        var member = new { email = $"late-{Guid.NewGuid():N}@example.com", role = "member" };
        var memberRefused = await (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{a.OrganizationId}/members", member))
            .ShouldBeProblemAsync(403, "plan_violation");
        memberRefused.GetProperty("detail").GetString().ShouldBe($"Your team has 3 members but the {a.Basic} plan allows 1");
        (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostJsonAsync("/v1/meetings", meeting)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{a.OrganizationId}/members", member)).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task The_storage_grace_refuses_after_30_days_not_before_and_its_final_warning_is_sent_once()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await ApplyDowngradeAsync(a);
        var gate = App.Service<IAccessGate>();
        var runner = App.Service<JobRunner>();

        App.Time.Advance(TimeSpan.FromDays(30) - TimeSpan.FromSeconds(1));
        await gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "storage_bytes", CancellationToken.None);
        (await runner.RunAsync(StorageGraceJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
        (await EmailsToAsync(a.OwnerEmail)).Count(p => p.Contains("Recording is now paused", StringComparison.Ordinal)).ShouldBe(0);

        App.Time.Advance(TimeSpan.FromSeconds(1));
        var refused = await Should.ThrowAsync<ProblemException>(() => gate.EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "storage_bytes", CancellationToken.None));
        refused.Code.ShouldBe("plan_violation");
        refused.Extensions!["action"].ShouldBe("grace_period");
        await runner.RunAsync(StorageGraceJob.Id, CancellationToken.None);
        App.Time.Advance(TimeSpan.FromDays(1));
        await runner.RunAsync(StorageGraceJob.Id, CancellationToken.None);
        (await EmailsToAsync(a.OwnerEmail)).Count(p => p.Contains("Recording is now paused", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Fact]
    public async Task A_violation_back_under_its_limit_clears_itself_at_the_daily_check_and_the_others_stay()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await ApplyDowngradeAsync(a);
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update organization_members set deleted_at = @now where organization_id = @org and role = 'member'",
                new { now = App.Time.GetUtcNow(), org = a.OrganizationId });

        (await App.Service<JobRunner>().RunAsync(ViolationsCheckJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);

        var open = (await App.Service<IAccessGate>().GetAsync(a.OrganizationId, CancellationToken.None)).Violations.Select(v => v.Metric).ToList();
        open.ShouldBe(["meetings_per_month", "storage_bytes"], ignoreOrder: true);
        await App.Service<IAccessGate>().EnsureAllowedAsync(a.OrganizationId, GatedAction.Create, "team_members", CancellationToken.None);
    }

    [Fact]
    public async Task A_scheduled_downgrade_is_cancelled_by_releasing_its_schedule()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);
        (await client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var scheduleId = (await LocalAsync(a.SubscriptionRowId)).Schedule!;

        (await client.DeleteAsync("/v1/billing/plan-change")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        var release = Stripe.Received("POST", $"/v1/subscription_schedules/{scheduleId}/release").Single();
        release.IdempotencyKey.ShouldBe($"plan-change-release:{scheduleId}");
        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Pro, null, null, null));
        await (await client.DeleteAsync("/v1/billing/plan-change")).ShouldBeProblemAsync(404, "no_pending_change");
        // A later update event with the old price changes nothing.
        var now = App.Time.GetUtcNow();
        await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "customer.subscription.updated",
            PlanChangeKit.SubscriptionObject(a.StripeSubscriptionId, "price_" + a.Pro, a.PeriodStart, a.PeriodEnd), now, now));
        (await LocalAsync(a.SubscriptionRowId)).Plan.ShouldBe(a.Pro);
    }

    [Fact]
    public async Task Twenty_concurrent_downgrade_requests_schedule_exactly_one_change()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        var client = App.Client(a.Tenant);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() =>
            client.PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic }))));

        var statuses = responses.Select(r => (int)r.StatusCode).ToList();
        statuses.Count(s => s == 200).ShouldBe(1);
        statuses.Count(s => s == 409).ShouldBe(19);
        Stripe.Received("POST", "/v1/subscription_schedules").Count(r => r.Form.GetValueOrDefault("from_subscription") == a.StripeSubscriptionId).ShouldBe(1);
        var local = await LocalAsync(a.SubscriptionRowId);
        local.Pending.ShouldBe(a.Basic);
        Stripe.Received("POST", $"/v1/subscription_schedules/{local.Schedule}").Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_downgrade_Stripe_refuses_gives_the_claim_back_and_answers_502()
    {
        var a = await App.ArrangeSubscribedAsync(Stripe);
        App.SetupAs<PlanChangeSetup>().Refusing[a.StripeSubscriptionId] = true;

        await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).ShouldBeProblemAsync(502, "stripe_refused");

        (await LocalAsync(a.SubscriptionRowId)).ShouldBe((a.Pro, null, null, null));
    }

    [Fact]
    public async Task Plan_changes_without_a_subscription_or_to_an_unknown_plan_are_refused()
    {
        var tenant = await App.CreateTenantAsync("admin");
        await (await App.Client(tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = "free" })).ShouldBeProblemAsync(409, "plan_not_purchasable");
        var a = await App.ArrangeSubscribedAsync(Stripe);
        await (await App.Client(tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).ShouldBeProblemAsync(409, "no_subscription");
        await (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = "nope" })).ShouldBeProblemAsync(404, "plan_not_found");
        var readOnly = await App.CreateApiKeyAsync(a.OrganizationId, "read");
        await (await App.ClientWithKey(readOnly.Key).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Max })).ShouldBeProblemAsync(403, "insufficient_scope");
    }

    /// <summary>Schedules a downgrade to basic and delivers the boundary event, with usage over basic on every metric.</summary>
    protected async Task ApplyDowngradeAsync(PlanArrangement a)
    {
        (await App.Client(a.Tenant).PostJsonAsync("/v1/billing/plan-change", new { plan = a.Basic })).StatusCode.ShouldBe(HttpStatusCode.OK);
        App.Time.Advance(a.PeriodEnd - App.Time.GetUtcNow());
        var boundary = App.Time.GetUtcNow();
        await OverBasicAsync(a, boundary);
        var response = await App.CreateClient().SendAsync(StripeSetup.Event("evt_" + Guid.NewGuid().ToString("N"), "customer.subscription.updated",
            PlanChangeKit.SubscriptionObject(a.StripeSubscriptionId, "price_" + a.Basic, boundary, boundary.AddDays(30)), boundary, boundary));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        // What the billing slice's subscription sync does with the same event: the local period is the new one.
        await using (var connection = await App.OpenAsync())
            await connection.ExecuteAsync("update subscriptions set current_period_start = @boundary, current_period_end = @end where id = @id",
                new { boundary, end = boundary.AddDays(30), id = a.SubscriptionRowId });
        (await App.Service<IAccessGate>().GetAsync(a.OrganizationId, CancellationToken.None)).Violations.Count.ShouldBe(3);
    }

    private async Task PlantViolationAsync(string organizationId, string metric, string action)
    {
        await using var connection = await App.OpenAsync();
        var now = App.Time.GetUtcNow();
        await connection.ExecuteAsync(
            """
            insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, detected_at, created_at, updated_at)
            values (@id, @organizationId, @metric, 'free', 5, 1, @action, 'Over', @now, @now, @now)
            """, new { id = Guid.NewGuid().ToString(), organizationId, metric, action, now });
    }

    private async Task<List<string>> EmailsToAsync(string to)
    {
        await using var connection = await App.OpenAsync();
        return (await connection.QueryAsync<string>("select payload from outbox_messages where channel = 'email'"))
            .Where(p => p.Contains(to, StringComparison.Ordinal)).ToList();
    }
}

public sealed class PlanChangeTestsOnSqlite(SqliteApp<PlanChangeSetup> app) : PlanChangeTests(app), IClassFixture<SqliteApp<PlanChangeSetup>>;

public sealed class PlanChangeTestsOnPostgres(PostgresApp<PlanChangeSetup> app) : PlanChangeTests(app), IClassFixture<PostgresApp<PlanChangeSetup>>;
