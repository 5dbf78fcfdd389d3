using Backstop.Features.Billing;

namespace Backstop.Tests.Features.Billing;

/// <summary>The operator's actions on an organization's access, as the access gate sees them: extend a grace period, lift a suspension.</summary>
public abstract class OperatorAccessActionsTests(BackstopFactory app) : AppTest(app)
{
    private async Task<string> SuspendedOrganizationAsync(string status = "suspended", DateTimeOffset? graceEndsAt = null)
    {
        var organization = await App.CreateOrganizationAsync();
        var plan = "plan-" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long>());
        await App.PlantSubscriptionAsync(organization.Id, plan, status, graceEndsAt: graceEndsAt ?? App.Time.GetUtcNow().AddHours(-1));
        return organization.Id;
    }

    private async Task<long> AuditAsync(string action, string organizationId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("select count(*) from audit_log where action = @action and organization_id = @organizationId",
            new { action, organizationId });
    }

    [Fact]
    public async Task Extending_the_grace_of_a_suspended_organization_lets_the_gate_admit_use_until_the_new_end()
    {
        var organizationId = await SuspendedOrganizationAsync();
        var gate = App.Service<IAccessGate>();
        (await gate.GetAsync(organizationId, CancellationToken.None)).CanUse.ShouldBeFalse();
        var until = App.Time.GetUtcNow().AddDays(3);

        var response = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/grace", new { until });

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("state").GetString().ShouldBe("past_due");
        var access = await gate.GetAsync(organizationId, CancellationToken.None);
        access.State.ShouldBe("past_due");
        access.GraceEndsAt.ShouldBe(until);
        access.CanUse.ShouldBeTrue();
        access.CanCreate.ShouldBeFalse(); // past due: creation waits for the payment
        (await AuditAsync("subscription.grace_extend", organizationId)).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromDays(3) + TimeSpan.FromMinutes(1));
        (await gate.GetAsync(organizationId, CancellationToken.None)).RefusalCode.ShouldBe("subscription_suspended");
    }

    [Fact]
    public async Task A_grace_is_only_extended_later_and_only_for_a_past_due_or_suspended_organization()
    {
        var admin = App.AdminClient();
        var now = App.Time.GetUtcNow();
        var pastDue = await SuspendedOrganizationAsync("past_due", graceEndsAt: now.AddDays(5));
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{pastDue}/grace", new { until = now.AddDays(2) })).ShouldBeProblemAsync(409, "grace_not_extended");
        (await App.Service<IAccessGate>().GetAsync(pastDue, CancellationToken.None)).GraceEndsAt.ShouldBe(now.AddDays(5));

        var active = await SuspendedOrganizationAsync("active");
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{active}/grace", new { until = now.AddDays(2) })).ShouldBeProblemAsync(409, "not_past_due");
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{pastDue}/grace", new { until = now.AddDays(-1) })).ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync("/v1/admin/organizations/nope/grace", new { until = now.AddDays(9) })).ShouldBeProblemAsync(404, "not_found");
        (await AuditAsync("subscription.grace_extend", pastDue)).ShouldBe(0);
    }

    [Fact]
    public async Task Lifting_a_suspension_admits_the_organization_until_the_lift_ends()
    {
        var organizationId = await SuspendedOrganizationAsync();
        var gate = App.Service<IAccessGate>();
        await Should.ThrowAsync<Exception>(() => gate.EnsureAllowedAsync(organizationId, GatedAction.Use, null, CancellationToken.None));

        var response = await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{organizationId}/suspension-lift", new { days = 2, reason = "paid by bank transfer" });

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        body.GetProperty("until").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow().AddDays(2));
        body.GetProperty("access").GetProperty("canCreate").GetBoolean().ShouldBeTrue();
        await gate.EnsureAllowedAsync(organizationId, GatedAction.Create, null, CancellationToken.None);
        var access = await gate.GetAsync(organizationId, CancellationToken.None);
        access.State.ShouldBe("suspended"); // the subscription is untouched
        access.SuspensionLiftedUntil.ShouldBe(App.Time.GetUtcNow().AddDays(2));
        (await AuditAsync("subscription.suspension_lift", organizationId)).ShouldBe(1);

        App.Time.Advance(TimeSpan.FromDays(2) + TimeSpan.FromSeconds(1));
        var after = await gate.GetAsync(organizationId, CancellationToken.None);
        after.CanUse.ShouldBeFalse();
        after.RefusalCode.ShouldBe("subscription_suspended");
        after.SuspensionLiftedUntil.ShouldBeNull();
    }

    [Fact]
    public async Task A_lift_needs_days_a_reason_and_an_existing_organization()
    {
        var organizationId = await SuspendedOrganizationAsync();
        var admin = App.AdminClient();
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{organizationId}/suspension-lift", new { days = 0, reason = "x" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync($"/v1/admin/organizations/{organizationId}/suspension-lift", new { days = 3, reason = "" })).ShouldBeProblemAsync(400, "validation_failed");
        await (await admin.PostJsonAsync("/v1/admin/organizations/nope/suspension-lift", new { days = 3, reason = "x" })).ShouldBeProblemAsync(404, "not_found");
        (await App.Service<IAccessGate>().GetAsync(organizationId, CancellationToken.None)).CanUse.ShouldBeFalse();
        (await AuditAsync("subscription.suspension_lift", organizationId)).ShouldBe(0);
    }
}

public sealed class OperatorAccessActionsTestsOnSqlite(SqliteApp<DefaultSetup> app) : OperatorAccessActionsTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class OperatorAccessActionsTestsOnPostgres(PostgresApp<DefaultSetup> app) : OperatorAccessActionsTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
