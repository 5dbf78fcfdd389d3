using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;
using Backstop.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.Cleanup;

/// <summary>Storage cleanup over whichever store the setup configures (local directory, or S3 on s3rver).</summary>
public abstract class StorageCleanupTests(BackstopFactory app) : AppTest(app)
{
    protected CleanupSetup Setup => App.SetupAs<CleanupSetup>();

    protected virtual void SkipIfUnavailable() { }

    private protected Task<JobRun> SweepAsync() => App.Service<JobRunner>().RunAsync(StorageCleanupJob.Id, CancellationToken.None);

    private protected static Dictionary<string, long> CountsOf(JobRun run) => JsonSerializer.Deserialize<Dictionary<string, long>>(run.Counts!)!;

    /// <summary>A finished meeting with an audio file really in the store, deleted <paramref name="deletedDaysAgo"/> days ago (null: not deleted).</summary>
    protected async Task<(string Id, string Key, long Size)> MeetingWithAudioAsync(string organizationId, double? deletedDaysAgo, string keyMarker = "")
    {
        var bytes = Enumerable.Range(0, Random.Shared.Next(1_000, 20_000)).Select(i => (byte)i).ToArray();
        var key = $"meetings/{Guid.NewGuid():N}/bot_{keyMarker}{Guid.NewGuid():N}.mp3";
        await App.Service<IFileStore>().PutAsync(key, new MemoryStream(bytes), "audio/mpeg", CancellationToken.None);
        var now = App.Time.GetUtcNow();
        var id = await App.InsertMeetingAsync(organizationId, "transcribed", now.AddDays(-40), audioKey: key, audioSize: bytes.Length,
            deletedAt: deletedDaysAgo is { } days ? now.AddDays(-days) : null);
        return (id, key, bytes.Length);
    }

    protected async Task<bool> FileExistsAsync(string key)
    {
        var download = await App.Service<IFileStore>().OpenReadAsync(key, CancellationToken.None);
        if (download is null) return false;
        await download.Content.DisposeAsync();
        return true;
    }

    protected async Task<(string? AudioKey, long? AudioSize, string? AudioContentType)> AudioColumnsAsync(string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.QuerySingleAsync<(string?, long?, string?)>("select audio_key, audio_size, audio_content_type from meetings where id = @id", new { id });
    }

    [Fact]
    public async Task The_file_of_a_meeting_deleted_31_days_ago_is_gone_and_its_bytes_reported_while_29_days_and_not_deleted_stay()
    {
        SkipIfUnavailable();
        var organization = await App.CreateOrganizationAsync();
        var old = await MeetingWithAudioAsync(organization.Id, 31);
        var recent = await MeetingWithAudioAsync(organization.Id, 29);
        var live = await MeetingWithAudioAsync(organization.Id, null);
        (await FileExistsAsync(old.Key)).ShouldBeTrue();
        var totalBefore = await App.ScalarAsync<long?>("select bytes_freed from cleanup_totals where sweep = 'storage-cleanup'") ?? 0;

        var run = await SweepAsync();

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        (await FileExistsAsync(old.Key)).ShouldBeFalse();
        (await AudioColumnsAsync(old.Id)).ShouldBe((null, null, null));
        (await FileExistsAsync(recent.Key)).ShouldBeTrue();
        (await AudioColumnsAsync(recent.Id)).AudioKey.ShouldBe(recent.Key);
        (await FileExistsAsync(live.Key)).ShouldBeTrue();
        (await AudioColumnsAsync(live.Id)).AudioKey.ShouldBe(live.Key);
        var counts = CountsOf(run);
        counts[SweepCounts.DoneKey].ShouldBe(1);
        counts[SweepCounts.BytesFreedKey].ShouldBe(old.Size);
        (await App.ScalarAsync<long>("select bytes_freed from cleanup_totals where sweep = 'storage-cleanup'")).ShouldBe(totalBefore + old.Size);
        var metrics = await (await App.CreateClient().GetAsync("/metrics")).Content.ReadAsStringAsync();
        metrics.ShouldContain("backstop_cleanup_bytes_freed_total");
        metrics.ShouldContain("backstop_cleanup_items_total{sweep=\"storage-cleanup\",outcome=\"done\"}");
    }

    [Fact]
    public async Task A_row_whose_file_is_already_missing_is_cleared_without_error()
    {
        SkipIfUnavailable();
        var organization = await App.CreateOrganizationAsync();
        var gone = await MeetingWithAudioAsync(organization.Id, 45);
        await App.Service<IFileStore>().DeleteAsync(gone.Key, CancellationToken.None);
        (await FileExistsAsync(gone.Key)).ShouldBeFalse();

        var run = await SweepAsync();

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        run.Error.ShouldBeNull();
        CountsOf(run)[SweepCounts.FailedKey].ShouldBe(0);
        (await AudioColumnsAsync(gone.Id)).ShouldBe((null, null, null));
    }
}

public abstract partial class LocalStorageCleanupTests(BackstopFactory app) : StorageCleanupTests(app)
{
    [Fact]
    public async Task A_failing_file_delete_for_one_meeting_leaves_the_others_cleaned()
    {
        var organization = await App.CreateOrganizationAsync();
        var before = await MeetingWithAudioAsync(organization.Id, 40);
        var bad = await MeetingWithAudioAsync(organization.Id, 40, FileStoreFaults.FailMarker);
        var after = await MeetingWithAudioAsync(organization.Id, 40);

        var run = await SweepAsync();

        run.Outcome.ShouldBe(JobRunner.Succeeded);
        var counts = CountsOf(run);
        counts[SweepCounts.FailedKey].ShouldBe(1);
        counts[SweepCounts.DoneKey].ShouldBe(2);
        (await AudioColumnsAsync(before.Id)).AudioKey.ShouldBeNull();
        (await AudioColumnsAsync(after.Id)).AudioKey.ShouldBeNull();
        (await FileExistsAsync(before.Key)).ShouldBeFalse();
        (await FileExistsAsync(after.Key)).ShouldBeFalse();
        // Kept for the next run, file and row.
        (await AudioColumnsAsync(bad.Id)).AudioKey.ShouldBe(bad.Key);
        (await FileExistsAsync(bad.Key)).ShouldBeTrue();
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync("update meetings set deleted_at = null where id = @Id", new { bad.Id });
    }

    [Fact]
    public async Task Of_twenty_concurrent_runs_one_sweeps_and_the_others_are_skipped()
    {
        var organization = await App.CreateOrganizationAsync();
        var gated = await MeetingWithAudioAsync(organization.Id, 40, FileStoreFaults.GateMarker);
        Setup.Faults.Reset();
        var admin = App.AdminClient();
        const string skippedRuns = "select count(*) from job_runs where job_id = 'storage-cleanup' and outcome = 'skipped'";
        var skippedBefore = await App.ScalarAsync<long>(skippedRuns);

        var first = Task.Run(() => admin.PostAsync($"/v1/admin/cleanup/{StorageCleanupJob.Id}/run", null));
        await Setup.Faults.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var others = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => admin.PostAsync($"/v1/admin/cleanup/{StorageCleanupJob.Id}/run", null))));
        Setup.Faults.Release.TrySetResult();
        var firstRun = await (await first).JsonAsync();

        firstRun.GetProperty("outcome").GetString().ShouldBe(JobRunner.Succeeded);
        foreach (var response in others)
            (await response.JsonAsync()).GetProperty("outcome").GetString().ShouldBe(JobRunner.Skipped);
        (await AudioColumnsAsync(gated.Id)).AudioKey.ShouldBeNull();
        (await App.ScalarAsync<long>(skippedRuns)).ShouldBe(skippedBefore + 20);
        (await App.ScalarAsync<long>("select count(*) from job_leases where job_id = 'storage-cleanup' and lease_until > @now", new { now = App.Time.GetUtcNow() })).ShouldBe(0);
    }
}

public abstract partial class LocalStorageCleanupTests
{
    [Fact]
    public async Task A_run_that_lost_its_lease_stops_at_the_next_batch_boundary()
    {
        var organization = await App.CreateOrganizationAsync();
        var first = await MeetingWithAudioAsync(organization.Id, 40, FileStoreFaults.GateMarker);
        App.Time.Advance(TimeSpan.FromMilliseconds(2));
        var second = await MeetingWithAudioAsync(organization.Id, 40);
        App.Time.Advance(TimeSpan.FromMilliseconds(2));
        var third = await MeetingWithAudioAsync(organization.Id, 40);
        Setup.Faults.Reset();

        using var lost = new CancellationTokenSource();
        long done;
        IReadOnlyDictionary<string, long> counts;
        await using (var scope = App.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<JobContext>().Stop = lost.Token;
            var job = ActivatorUtilities.CreateInstance<StorageCleanupJob>(scope.ServiceProvider, Options.Create(new CleanupOptions { BatchSize = 1 }));
            var run = job.RunAsync(CancellationToken.None);
            await Setup.Faults.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
            // The lease is lost while the first batch is inside its file delete: that batch completes, no other starts.
            await lost.CancelAsync();
            Setup.Faults.Release.TrySetResult();
            done = await run;
            counts = job.Counts;
        }

        done.ShouldBe(1);
        counts[SweepCounts.BatchesKey].ShouldBe(1);
        (await AudioColumnsAsync(first.Id)).AudioKey.ShouldBeNull();
        (await FileExistsAsync(first.Key)).ShouldBeFalse();
        (await AudioColumnsAsync(second.Id)).AudioKey.ShouldBe(second.Key);
        (await AudioColumnsAsync(third.Id)).AudioKey.ShouldBe(third.Key);

        // The next run (which holds the lease) takes the rest.
        (await SweepAsync()).Outcome.ShouldBe(JobRunner.Succeeded);
        (await AudioColumnsAsync(second.Id)).AudioKey.ShouldBeNull();
        (await AudioColumnsAsync(third.Id)).AudioKey.ShouldBeNull();
    }
}

public sealed class LocalStorageCleanupTestsOnSqlite(SqliteApp<CleanupSetup> app) : LocalStorageCleanupTests(app), IClassFixture<SqliteApp<CleanupSetup>>;

public sealed class LocalStorageCleanupTestsOnPostgres(PostgresApp<CleanupSetup> app) : LocalStorageCleanupTests(app), IClassFixture<PostgresApp<CleanupSetup>>;

public abstract class S3StorageCleanupTests(BackstopFactory app) : StorageCleanupTests(app)
{
    protected override void SkipIfUnavailable() => App.SetupAs<CleanupS3Setup>().S3.SkipIfUnavailable();

    [Fact]
    public async Task The_bucket_no_longer_holds_the_object_of_a_meeting_deleted_31_days_ago()
    {
        SkipIfUnavailable();
        var organization = await App.CreateOrganizationAsync();
        var old = await MeetingWithAudioAsync(organization.Id, 31);
        var bucket = App.SetupAs<CleanupS3Setup>().S3.ObjectDirectory!;
        var name = Path.GetFileNameWithoutExtension(old.Key);
        Directory.EnumerateFiles(bucket, "*", SearchOption.AllDirectories).ShouldContain(f => f.Contains(name, StringComparison.Ordinal));

        await SweepAsync();

        Directory.EnumerateFiles(bucket, "*", SearchOption.AllDirectories).ShouldNotContain(f => f.Contains(name, StringComparison.Ordinal));
    }
}

public sealed class S3StorageCleanupTestsOnSqlite(SqliteApp<CleanupS3Setup> app) : S3StorageCleanupTests(app), IClassFixture<SqliteApp<CleanupS3Setup>>;

public sealed class S3StorageCleanupTestsOnPostgres(PostgresApp<CleanupS3Setup> app) : S3StorageCleanupTests(app), IClassFixture<PostgresApp<CleanupS3Setup>>;
