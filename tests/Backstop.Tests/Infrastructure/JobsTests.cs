using System.Net.Http.Headers;
using System.Text;
using Backstop.Infrastructure.Jobs;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>A job that waits until the test lets it finish: makes overlapping runs certain, not a matter of timing.</summary>
public sealed class GateJob(Gate gate) : IRecurringJob
{
    public static string Id => "test-gate";
    public static string DefaultCron => "0 0 1 1 *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        gate.Entered.TrySetResult();
        await gate.Release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        return 7;
    }
}

public sealed class Gate
{
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public abstract class JobsTests(BackstopFactory app) : AppTest(app)
{
    private const string Retention = "job-runs-retention";

    [Fact]
    public async Task A_run_is_recorded_in_job_runs_and_listed()
    {
        var response = await App.AdminClient().PostAsync($"/v1/admin/jobs/{Retention}/run", null);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var run = await response.JsonAsync();
        run.GetProperty("outcome").GetString().ShouldBe("succeeded");
        var runId = run.GetProperty("id").GetString();

        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<JobRun>("select * from job_runs where id = @runId", new { runId });
        row.JobId.ShouldBe(Retention);
        row.Outcome.ShouldBe("succeeded");
        row.FinishedAt.ShouldNotBeNull();

        var list = await (await App.AdminClient().GetAsync($"/v1/admin/jobs?jobId={Retention}")).JsonAsync();
        list.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString()).ShouldContain(Retention);
        list.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetString()).ShouldContain(runId);

        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_job_runs_total{job=\"job-runs-retention\",outcome=\"succeeded\"}");
    }

    [Fact]
    public async Task Retention_deletes_only_runs_older_than_the_retention_period()
    {
        await using var connection = await App.OpenAsync();
        var now = App.Time.GetUtcNow();
        string old = Guid.NewGuid().ToString(), recent = Guid.NewGuid().ToString();
        foreach (var (id, at) in new[] { (old, now.AddDays(-31)), (recent, now.AddDays(-29)) })
            await connection.ExecuteAsync(
                """
                insert into job_runs (id, job_id, started_at, finished_at, outcome, items, correlation_id, created_at, updated_at)
                values (@id, 'x', @at, @at, 'succeeded', 0, @id, @at, @at)
                """, new { id, at });

        var run = await App.Service<JobRunner>().RunAsync(Retention, CancellationToken.None);

        run.Outcome.ShouldBe("succeeded");
        run.Items.ShouldBeGreaterThanOrEqualTo(1);
        (await connection.ExecuteScalarAsync<long>("select count(*) from job_runs where id = @old", new { old })).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from job_runs where id = @recent", new { recent })).ShouldBe(1);
    }

    [Fact]
    public async Task A_run_skips_while_another_holds_the_lease_and_overlapping_runs_never_both_work()
    {
        var gate = App.Service<Gate>();
        var runner = App.Service<JobRunner>();
        var first = Task.Run(() => runner.RunAsync(GateJob.Id, CancellationToken.None));
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // 20 truly concurrent attempts, through the API and directly, while the first run holds the lease.
        var client = App.AdminClient();
        var attempts = Enumerable.Range(0, 20).Select(i => i % 2 == 0
            ? Task.Run(async () => (await (await client.PostAsync($"/v1/admin/jobs/{GateJob.Id}/run", null)).JsonAsync()).GetProperty("outcome").GetString()!)
            : Task.Run(async () => (await runner.RunAsync(GateJob.Id, CancellationToken.None)).Outcome)).ToList();
        var outcomes = await Task.WhenAll(attempts);
        outcomes.ShouldAllBe(o => o == "skipped");

        gate.Release.SetResult();
        (await first).Outcome.ShouldBe("succeeded");

        await using var connection = await App.OpenAsync();
        var counts = (await connection.QueryAsync<(string Outcome, long Count)>(
            "select outcome, count(*) from job_runs where job_id = @Id group by outcome", new { Id = GateJob.Id })).ToDictionary(r => r.Outcome, r => r.Count);
        counts["succeeded"].ShouldBe(1);
        counts["skipped"].ShouldBe(20);

        // Lease released: the next run works.
        var again = Task.Run(() => runner.RunAsync(GateJob.Id, CancellationToken.None));
        (await again).Outcome.ShouldBe("succeeded");
    }

    [Fact]
    public async Task Unknown_job_is_a_404()
    {
        var response = await App.AdminClient().PostAsync("/v1/admin/jobs/no-such-job/run", null);
        await response.ShouldBeProblemAsync(404, "not_found");
    }

    [Fact]
    public async Task Dashboard_requires_basic_admin_credentials()
    {
        var none = await App.CreateClient().GetAsync("/hangfire");
        none.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        none.Headers.WwwAuthenticate.ToString().ShouldStartWith("Basic");

        var wrong = App.CreateClient();
        wrong.DefaultRequestHeaders.Authorization = Basic("admin", "wrong-password-wrong-password-wrong");
        (await wrong.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var wrongUser = App.CreateClient();
        wrongUser.DefaultRequestHeaders.Authorization = Basic("root", BackstopFactory.AdminKey);
        (await wrongUser.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var bearer = App.AdminClient(); // the admin key as a bearer token is not what the dashboard takes
        (await bearer.GetAsync("/hangfire")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        var right = App.CreateClient();
        right.DefaultRequestHeaders.Authorization = Basic("admin", BackstopFactory.AdminKey);
        var ok = await right.GetAsync("/hangfire");
        ok.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await ok.Content.ReadAsStringAsync()).ShouldContain("Backstop jobs");
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
}

public sealed class JobsTestsSetup : AppSetup
{
    public override void ConfigureServices(IServiceCollection services) => services.AddSingleton<Gate>().AddRecurringJob<GateJob>();
}

public sealed class JobsTestsOnSqlite(SqliteApp<JobsTestsSetup> app) : JobsTests(app), IClassFixture<SqliteApp<JobsTestsSetup>>;

public sealed class JobsTestsOnPostgres(PostgresApp<JobsTestsSetup> app) : JobsTests(app), IClassFixture<PostgresApp<JobsTestsSetup>>;

/// <summary>A Hangfire server really picks the recurring job up and the run lands in job_runs.</summary>
public abstract class HangfireExecutionTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task A_triggered_recurring_job_runs_through_hangfire_and_is_recorded()
    {
        App.Service<IRecurringJobManager>().Trigger("job-runs-retention");
        await using var connection = await App.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        long count = 0;
        while (DateTime.UtcNow < deadline && count == 0)
        {
            count = await connection.ExecuteScalarAsync<long>("select count(*) from job_runs where job_id = 'job-runs-retention' and outcome = 'succeeded'");
            if (count == 0) await Task.Delay(200);
        }
        count.ShouldBe(1);
    }
}

public sealed class HangfireExecutionTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings)
    {
        settings["Jobs:RunServer"] = "true";
        settings["Jobs:PollIntervalSeconds"] = "1";
    }
}

public sealed class HangfireExecutionTestsOnSqlite(SqliteApp<HangfireExecutionTestsSetup> app) : HangfireExecutionTests(app), IClassFixture<SqliteApp<HangfireExecutionTestsSetup>>;

public sealed class HangfireExecutionTestsOnPostgres(PostgresApp<HangfireExecutionTestsSetup> app) : HangfireExecutionTests(app), IClassFixture<PostgresApp<HangfireExecutionTestsSetup>>;
