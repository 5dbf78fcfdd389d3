using Backstop.Features.Cleanup;

namespace Backstop.Tests.Features.Cleanup;

public abstract class CleanupAdminTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task The_list_shows_every_cleanup_sweep_with_schedule_next_run_latest_runs_and_bytes_freed()
    {
        var organization = await App.CreateOrganizationAsync();
        var key = $"meetings/{Guid.NewGuid():N}/bot_{Guid.NewGuid():N}.mp3";
        await App.Service<Backstop.Infrastructure.Storage.IFileStore>().PutAsync(key, new MemoryStream(new byte[4321]), "audio/mpeg", CancellationToken.None);
        await App.InsertMeetingAsync(organization.Id, "done", App.Time.GetUtcNow().AddDays(-60), audioKey: key, audioSize: 4321, deletedAt: App.Time.GetUtcNow().AddDays(-35));
        var run = await App.AdminClient().PostAsync($"/v1/admin/cleanup/{StorageCleanupJob.Id}/run", null);
        run.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await App.AdminClient().PostAsync("/v1/admin/cleanup/webhook-retention/run", null)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var list = await (await App.AdminClient().GetAsync("/v1/admin/cleanup")).JsonAsync();

        var sweeps = list.GetProperty("sweeps").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        // Every job declared JobKind.Cleanup, whichever slice owns it (billing-grace-expiry was missing while a list of ids named it "grace-expiry").
        sweeps.Keys.Except(["email-file-retention"]).ShouldBe(["orphaned-bots", "storage-cleanup", "webhook-retention", "job-runs-retention", "auth-failures-cleanup",
            "messaging-cleanup", "billing-grace-expiry", "usage-key-retention"], ignoreOrder: true);
        sweeps.Keys.ShouldNotContain("outbox-sweep");
        sweeps.Keys.ShouldNotContain("webhook-inbox");
        sweeps["orphaned-bots"].GetProperty("schedule").GetString().ShouldBe("*/5 * * * *");
        sweeps["storage-cleanup"].GetProperty("schedule").GetString().ShouldBe("0 4 * * *");
        var now = App.Time.GetUtcNow();
        foreach (var sweep in sweeps.Values)
        {
            sweep.GetProperty("enabled").GetBoolean().ShouldBeTrue();
            sweep.GetProperty("state").GetString().ShouldBe("scheduled");
            sweep.GetProperty("nextRunAt").GetDateTimeOffset().ShouldBeGreaterThan(now);
        }
        // From the schedule and the (test) clock: the next 5-minute mark, the next 04:00.
        var fiveMinutes = TimeSpan.FromMinutes(5).Ticks;
        sweeps["orphaned-bots"].GetProperty("nextRunAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset((now.UtcTicks / fiveMinutes + 1) * fiveMinutes, TimeSpan.Zero));
        var nextFour = new DateTimeOffset(now.UtcDateTime.Date.AddHours(4), TimeSpan.Zero);
        sweeps["storage-cleanup"].GetProperty("nextRunAt").GetDateTimeOffset().ShouldBe(nextFour > now ? nextFour : nextFour.AddDays(1));
        var storageRun = sweeps["storage-cleanup"].GetProperty("lastRuns")[0];
        storageRun.GetProperty("outcome").GetString().ShouldBe("succeeded");
        storageRun.GetProperty("done").GetInt64().ShouldBe(1);
        storageRun.GetProperty("failed").GetInt64().ShouldBe(0);
        storageRun.GetProperty("bytesFreed").GetInt64().ShouldBe(4321);
        storageRun.GetProperty("batches").GetInt64().ShouldBe(1);
        sweeps["storage-cleanup"].GetProperty("totals").GetProperty("bytesFreed").GetInt64().ShouldBeGreaterThanOrEqualTo(4321);
        sweeps["webhook-retention"].GetProperty("lastRuns")[0].GetProperty("outcome").GetString().ShouldBe("succeeded");
        list.GetProperty("bytesFreedTotal").GetInt64().ShouldBeGreaterThanOrEqualTo(4321);
    }

    [Fact]
    public async Task An_unknown_sweep_is_404_and_a_tenant_key_is_refused()
    {
        await (await App.AdminClient().PostAsync("/v1/admin/cleanup/no-such-sweep/run", null)).ShouldBeProblemAsync(404, "not_found");
        // A recurring job that is not a cleanup sweep is not run from here.
        await (await App.AdminClient().PostAsync("/v1/admin/cleanup/outbox-sweep/run", null)).ShouldBeProblemAsync(404, "not_found");
        var tenant = App.Client(await App.CreateTenantAsync());
        ((int)(await tenant.GetAsync("/v1/admin/cleanup")).StatusCode).ShouldBe(403);
        ((int)(await tenant.PostAsync($"/v1/admin/cleanup/{OrphanedBotsJob.Id}/run", null)).StatusCode).ShouldBe(403);
        ((int)(await App.CreateClient().GetAsync("/v1/admin/cleanup")).StatusCode).ShouldBe(401);
        await (await App.AdminClient().GetAsync("/v1/admin/cleanup?runs=0")).ShouldBeProblemAsync(400, "validation_failed");
    }
}

public sealed class CleanupAdminTestsOnSqlite(SqliteApp<CleanupSetup> app) : CleanupAdminTests(app), IClassFixture<SqliteApp<CleanupSetup>>;

public sealed class CleanupAdminTestsOnPostgres(PostgresApp<CleanupSetup> app) : CleanupAdminTests(app), IClassFixture<PostgresApp<CleanupSetup>>;
