using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>The gate of the current test: each test sets a fresh one, so tests of one class never share a gate.</summary>
public sealed class LeaseGates
{
    public LeaseGate Current { get; set; } = new();
}

public sealed class LeaseGate
{
    public string Tag { get; } = "lease-test-" + Guid.NewGuid().ToString("N");
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource LeaseLost { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A job that works as long as the test holds it.</summary>
public sealed class LongJob(LeaseGates gates) : IRecurringJob
{
    public static string Id => "test-long";
    public static string DefaultCron => "0 0 1 1 *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var gate = gates.Current;
        gate.Entered.TrySetResult();
        await gate.Release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        return 1;
    }
}

/// <summary>
/// A sweep in two parts through the batched-delete helper, paused in between: rows tagged <c>-a</c> are deleted,
/// then (after the test lets it go on) rows tagged <c>-b</c>, in batches of 10.
/// </summary>
internal sealed class TwoPartSweepJob(LeaseGates gates, Db db, JobContext context) : IRecurringJob
{
    public const int BatchSize = 10;

    public static string Id => "test-two-part-sweep";
    public static string DefaultCron => "0 0 1 1 *";

    public async Task<long> RunAsync(CancellationToken ct)
    {
        var gate = gates.Current;
        using var registration = context.Stop.Register(() => gate.LeaseLost.TrySetResult());
        const string sql = "delete from job_runs where id in (select id from job_runs where job_id = @tag limit @batchSize)";
        var deleted = await db.DeleteInBatchesAsync(sql, new { tag = gate.Tag + "-a" }, BatchSize, context.Stop, ct);
        gate.Entered.TrySetResult();
        await gate.Release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        return deleted + await db.DeleteInBatchesAsync(sql, new { tag = gate.Tag + "-b" }, BatchSize, context.Stop, ct);
    }
}

public sealed class JobLeaseSetup : AppSetup
{
    public const int LeaseSeconds = 90;

    public override void Configure(Dictionary<string, string?> settings) => settings["Jobs:LeaseSeconds"] = LeaseSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<LeaseGates>().AddRecurringJob<LongJob>().AddRecurringJob<TwoPartSweepJob>();
}

public abstract class JobLeaseTests(BackstopFactory app) : AppTest(app)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(JobLeaseSetup.LeaseSeconds);

    [Fact]
    public async Task A_run_held_past_two_lease_lengths_keeps_its_lease_and_is_never_joined()
    {
        var gate = App.Service<LeaseGates>().Current = new LeaseGate();
        var runner = App.Service<JobRunner>();
        var first = Task.Run(() => runner.RunAsync(LongJob.Id, CancellationToken.None));
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Seven thirds of the lease: every renewal lands, and at each step a second run is turned away.
        for (var step = 1; step <= 7; step++)
        {
            App.Time.Advance(Lease / 3);
            await LeaseRenewedUntilAsync(LongJob.Id, App.Time.GetUtcNow() + Lease);
            (await runner.RunAsync(LongJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Skipped);
        }

        // Past two lease lengths: 20 truly concurrent attempts, none of which may start beside the first run.
        var attempts = Enumerable.Range(0, 20).Select(_ => Task.Run(() => runner.RunAsync(LongJob.Id, CancellationToken.None))).ToList();
        (await Task.WhenAll(attempts)).ShouldAllBe(r => r.Outcome == JobRunner.Skipped);

        gate.Release.SetResult();
        (await first).Outcome.ShouldBe(JobRunner.Succeeded);
        await using var connection = await App.OpenAsync();
        var counts = (await connection.QueryAsync<(string Outcome, long Count)>(
            "select outcome, count(*) from job_runs where job_id = @Id group by outcome", new { LongJob.Id })).ToDictionary(r => r.Outcome, r => r.Count);
        counts[JobRunner.Succeeded].ShouldBe(1);
        counts[JobRunner.Skipped].ShouldBe(27);
        counts.Keys.Count.ShouldBe(2);

        // Released at the end: the next run works at once.
        (await runner.RunAsync(LongJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
    }

    [Fact]
    public async Task A_run_whose_lease_was_taken_away_stops_at_the_next_batch()
    {
        var gate = App.Service<LeaseGates>().Current = new LeaseGate();
        await InsertRunsAsync(gate.Tag + "-a", 25);
        await InsertRunsAsync(gate.Tag + "-b", 25);
        var runner = App.Service<JobRunner>();
        var run = Task.Run(() => runner.RunAsync(TwoPartSweepJob.Id, CancellationToken.None));
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Another instance holds the lease now (as after a pause longer than the lease); the next renewal finds out.
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            "update job_leases set holder = 'another-instance', lease_until = @until where job_id = @Id",
            new { TwoPartSweepJob.Id, until = App.Time.GetUtcNow() + 10 * Lease });
        App.Time.Advance(Lease / 3);
        await gate.LeaseLost.Task.WaitAsync(TimeSpan.FromSeconds(30));
        gate.Release.SetResult();

        var finished = await run;
        finished.Outcome.ShouldBe(JobRunner.Interrupted);
        finished.Items.ShouldBe(25);
        (await CountRunsAsync(gate.Tag + "-a")).ShouldBe(0);
        (await CountRunsAsync(gate.Tag + "-b")).ShouldBe(25);
        (await connection.QuerySingleAsync<string>("select outcome from job_runs where id = @Id", new { finished.Id })).ShouldBe(JobRunner.Interrupted);
        // The lease is the other instance's and stays so: the interrupted run does not release it.
        (await connection.QuerySingleAsync<string>("select holder from job_leases where job_id = @Id", new { TwoPartSweepJob.Id })).ShouldBe("another-instance");
        (await runner.RunAsync(TwoPartSweepJob.Id, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Skipped);
    }

    [Fact]
    public async Task A_crashed_runs_lease_expires_by_itself()
    {
        const string job = "job-runs-retention";
        var now = App.Time.GetUtcNow();
        await using var connection = await App.OpenAsync();
        // What a run that died right after taking the lease leaves behind: nobody renews or releases it.
        await connection.ExecuteAsync(
            """
            insert into job_leases (job_id, holder, lease_until, created_at, updated_at) values (@job, 'crashed-run', @until, @now, @now)
            on conflict (job_id) do update set holder = excluded.holder, lease_until = excluded.lease_until, updated_at = excluded.updated_at
            """, new { job, until = now + Lease, now });
        var runner = App.Service<JobRunner>();

        (await runner.RunAsync(job, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Skipped);
        App.Time.Advance(Lease - TimeSpan.FromSeconds(1));
        (await runner.RunAsync(job, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Skipped);
        App.Time.Advance(TimeSpan.FromSeconds(1));
        (await runner.RunAsync(job, CancellationToken.None)).Outcome.ShouldBe(JobRunner.Succeeded);
    }

    [Fact]
    public async Task The_batched_delete_deletes_everything_in_batches_and_nothing_once_told_to_stop()
    {
        var tag = "batched-" + Guid.NewGuid().ToString("N");
        await InsertRunsAsync(tag, 25);
        var db = App.Service<Db>();
        const string sql = "delete from job_runs where id in (select id from job_runs where job_id = @tag limit @batchSize)";

        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();
        (await db.DeleteInBatchesAsync(sql, new { tag }, 10, stopped.Token, CancellationToken.None)).ShouldBe(0);
        (await CountRunsAsync(tag)).ShouldBe(25);

        (await db.DeleteInBatchesAsync(sql, new { tag }, 10, CancellationToken.None, CancellationToken.None)).ShouldBe(25);
        (await CountRunsAsync(tag)).ShouldBe(0);

        // An exact multiple of the batch: the loop ends with the empty batch after the last full one.
        await InsertRunsAsync(tag, 20);
        (await db.DeleteInBatchesAsync(sql, new { tag }, 10, CancellationToken.None, CancellationToken.None)).ShouldBe(20);
    }

    private async Task LeaseRenewedUntilAsync(string jobId, DateTimeOffset until)
    {
        // The renewal runs on its own after the clock moved; wait (in real time, bounded) for its write.
        await using var connection = await App.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        DateTimeOffset current;
        do
        {
            current = await connection.QuerySingleAsync<DateTimeOffset>("select lease_until from job_leases where job_id = @jobId", new { jobId });
            if (current >= until) return;
            await Task.Delay(20);
        } while (DateTime.UtcNow < deadline);
        current.ShouldBeGreaterThanOrEqualTo(until, "the lease was not renewed");
    }

    private async Task InsertRunsAsync(string jobId, int count)
    {
        await using var connection = await App.OpenAsync();
        var at = App.Time.GetUtcNow().AddDays(-1);
        var rows = Enumerable.Range(0, count).Select(_ => new { id = Guid.NewGuid().ToString(), jobId, at });
        await connection.ExecuteAsync(
            """
            insert into job_runs (id, job_id, started_at, finished_at, outcome, items, correlation_id, created_at, updated_at)
            values (@id, @jobId, @at, @at, 'succeeded', 0, @id, @at, @at)
            """, rows);
    }

    private async Task<long> CountRunsAsync(string jobId)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>("select count(*) from job_runs where job_id = @jobId", new { jobId });
    }
}

public sealed class JobLeaseTestsOnSqlite(SqliteApp<JobLeaseSetup> app) : JobLeaseTests(app), IClassFixture<SqliteApp<JobLeaseSetup>>;

public sealed class JobLeaseTestsOnPostgres(PostgresApp<JobLeaseSetup> app) : JobLeaseTests(app), IClassFixture<PostgresApp<JobLeaseSetup>>;
