using Backstop.Features.Billing;

namespace Backstop.Tests.Features.Billing;

/// <summary>
/// The batch forms of Billing's cross-slice reads (<see cref="IOrganizationPlans.GetManyAsync"/>,
/// <see cref="IAccessGate.GetManyAsync"/>), which Quota's group commit resolves a whole batch with: for every
/// organization they answer exactly what the one-organization forms answer, in every state the gate knows.
/// </summary>
public abstract class BatchReadTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Plans_and_access_read_for_many_organizations_at_once_equal_each_organizations_own_read()
    {
        var now = App.Time.GetUtcNow();
        var none = (await App.CreateTenantAsync()).OrganizationId;
        var active = (await App.BilledTenantAsync()).OrganizationId;
        var pastDue = (await App.BilledTenantAsync("past_due", now.AddDays(3))).OrganizationId;
        var graceOver = (await App.BilledTenantAsync("past_due", now.AddDays(-1))).OrganizationId;
        var paused = (await App.BilledTenantAsync("paused")).OrganizationId;
        var canceled = (await App.BilledTenantAsync("canceled")).OrganizationId;
        var lifted = (await App.BilledTenantAsync("suspended")).OrganizationId;
        (await App.AdminClient().PostJsonAsync($"/v1/admin/organizations/{lifted}/suspension-lift", new { days = 2, reason = "paid by bank transfer" }))
            .EnsureSuccessStatusCode();
        var suspended = (await App.BilledTenantAsync("suspended")).OrganizationId;
        var violating = (await App.BilledTenantAsync()).OrganizationId;
        await PlantViolationAsync(violating, "team_members");
        await PlantViolationAsync(violating, "storage_bytes");
        var custom = (await App.CreateTenantAsync()).OrganizationId;
        var plan = "plan_" + Guid.NewGuid().ToString("N")[..10];
        await App.PlantPlanAsync(plan, new Dictionary<string, long> { ["m_batch"] = 7, ["team_members"] = -1 });
        await App.PlantSubscriptionAsync(custom, plan, "trialing");
        string[] all = [none, active, pastDue, graceOver, paused, canceled, lifted, suspended, violating, custom];

        var plans = App.Service<IOrganizationPlans>();
        var gate = App.Service<IAccessGate>();
        await using var connection = await App.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        // Each organization twice: the batch form reads each once.
        var manyPlans = await plans.GetManyAsync(connection, tx, [.. all, .. all], CancellationToken.None);
        var manyAccess = await gate.GetManyAsync(connection, tx, [.. all, .. all], CancellationToken.None);

        manyPlans.Count.ShouldBe(all.Length);
        manyAccess.Count.ShouldBe(all.Length);
        foreach (var id in all)
        {
            Json(manyPlans[id]).ShouldBe(Json(await plans.GetAsync(connection, tx, id, CancellationToken.None)), id);
            Json(manyAccess[id]).ShouldBe(Json(await gate.GetAsync(connection, tx, id, CancellationToken.None)), id);
        }

        // And what each answers is the state it was given (so equal is not equally wrong).
        manyPlans[none].PlanCode.ShouldBe("free");
        manyPlans[custom].PlanCode.ShouldBe(plan);
        manyPlans[custom].Limits["m_batch"].ShouldBe(7);
        manyPlans[active].Limits["team_members"].ShouldBe(10);
        manyPlans[canceled].PlanCode.ShouldBe("free");
        manyAccess[none].State.ShouldBe("none");
        manyAccess[active].CanCreate.ShouldBeTrue();
        manyAccess[pastDue].RefusalCode.ShouldBe("payment_past_due");
        manyAccess[pastDue].CanUse.ShouldBeTrue();
        manyAccess[graceOver].RefusalCode.ShouldBe("subscription_suspended");
        manyAccess[paused].RefusalCode.ShouldBe("subscription_paused");
        manyAccess[suspended].CanUse.ShouldBeFalse();
        manyAccess[lifted].CanUse.ShouldBeTrue();
        manyAccess[lifted].SuspensionLiftedUntil.ShouldNotBeNull();
        manyAccess[violating].Violations.Select(v => v.Metric).ShouldBe(new[] { "storage_bytes", "team_members" });
        manyAccess[active].Violations.ShouldBeEmpty();
        (await plans.GetManyAsync(connection, tx, [], CancellationToken.None)).ShouldBeEmpty();
        (await gate.GetManyAsync(connection, tx, [], CancellationToken.None)).ShouldBeEmpty();
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);

    private async Task PlantViolationAsync(string organizationId, string metric)
    {
        await using var connection = await App.OpenAsync();
        var now = App.Time.GetUtcNow();
        await connection.ExecuteAsync(
            """
            insert into plan_violations (id, organization_id, metric, plan_code, current_usage, limit_value, action, sentence, detected_at, created_at, updated_at)
            values (@id, @organizationId, @metric, 'pro', 5, 1, 'read_only', 'Over', @now, @now, @now)
            """, new { id = Guid.NewGuid().ToString(), organizationId, metric, now });
    }
}

public sealed class BatchReadTestsOnSqlite(SqliteApp<DunningSetup> app) : BatchReadTests(app), IClassFixture<SqliteApp<DunningSetup>>;

public sealed class BatchReadTestsOnPostgres(PostgresApp<DunningSetup> app) : BatchReadTests(app), IClassFixture<PostgresApp<DunningSetup>>;
