namespace Backstop.Tests.Features.Billing;

/// <summary><c>POST /v1/admin/billing/discrepancies/{id}/resolve</c>: an operator closes an open discrepancy with a note, once.</summary>
public abstract class ResolveDiscrepancyTests(BackstopFactory app) : AppTest(app)
{
    private async Task<string> OpenDiscrepancyAsync(string organizationId)
    {
        var id = Guid.CreateVersion7().ToString();
        var now = App.Time.GetUtcNow();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into billing_discrepancies (id, organization_id, provider_subscription_id, field, ours, stripe, found_at, repaired,
                                               created_at, updated_at, provider, first_seen_at, last_seen_at)
            values (@id, @organizationId, @subscription, 'status', 'active', 'canceled', @now, @no, @now, @now, 'stripe', @now, @now)
            """, new { id, organizationId, subscription = "sub_" + Guid.NewGuid().ToString("N"), now, no = false });
        return id;
    }

    [Fact]
    public async Task Resolving_with_a_note_closes_the_discrepancy_audited_and_a_second_resolve_is_409()
    {
        var organization = await App.CreateOrganizationAsync();
        var id = await OpenDiscrepancyAsync(organization.Id);
        var admin = App.AdminClient();

        var response = await admin.PostJsonAsync($"/v1/admin/billing/discrepancies/{id}/resolve", new { note = "Cancelled at Stripe by support; local row fixed by hand." });

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.JsonAsync();
        body.GetProperty("resolved").GetBoolean().ShouldBeTrue();
        body.GetProperty("resolvedAt").GetDateTimeOffset().ShouldBe(App.Time.GetUtcNow());
        body.GetProperty("resolutionNote").GetString().ShouldBe("Cancelled at Stripe by support; local row fixed by hand.");
        var listed = await (await admin.GetAsync($"/v1/admin/billing/discrepancies?organizationId={organization.Id}")).JsonAsync();
        listed.GetProperty("items")[0].GetProperty("resolutionNote").GetString().ShouldStartWith("Cancelled at Stripe");
        await using (var connection = await App.OpenAsync())
            (await connection.ExecuteScalarAsync<long>("select count(*) from audit_log where action = 'billing_discrepancy.resolve' and target_id = @id", new { id })).ShouldBe(1);

        await (await admin.PostJsonAsync($"/v1/admin/billing/discrepancies/{id}/resolve", new { note = "again" })).ShouldBeProblemAsync(409, "discrepancy_resolved");
        await (await admin.PostJsonAsync("/v1/admin/billing/discrepancies/nope/resolve", new { note = "x" })).ShouldBeProblemAsync(404, "not_found");
    }

    [Fact]
    public async Task A_resolve_without_a_note_is_refused_and_changes_nothing()
    {
        var organization = await App.CreateOrganizationAsync();
        var id = await OpenDiscrepancyAsync(organization.Id);
        await (await App.AdminClient().PostJsonAsync($"/v1/admin/billing/discrepancies/{id}/resolve", new { note = " " })).ShouldBeProblemAsync(400, "validation_failed");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from billing_discrepancies where id = @id and not resolved and resolution_note is null", new { id })).ShouldBe(1);
    }

    [Fact]
    public async Task Of_twenty_concurrent_resolves_exactly_one_wins()
    {
        var organization = await App.CreateOrganizationAsync();
        var id = await OpenDiscrepancyAsync(organization.Id);
        var admin = App.AdminClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            admin.PostJsonAsync($"/v1/admin/billing/discrepancies/{id}/resolve", new { note = "operator " + i }))));

        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        answers.Count(a => a.StatusCode == HttpStatusCode.Conflict).ShouldBe(19);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from audit_log where action = 'billing_discrepancy.resolve' and target_id = @id", new { id })).ShouldBe(1);
    }
}

public sealed class ResolveDiscrepancyTestsOnSqlite(SqliteApp<DefaultSetup> app) : ResolveDiscrepancyTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class ResolveDiscrepancyTestsOnPostgres(PostgresApp<DefaultSetup> app) : ResolveDiscrepancyTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
