using Backstop.Features.Cleanup;
using Backstop.Infrastructure.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Features.Cleanup;

public abstract class OrphanedBotsBatchTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Twelve_hundred_orphaned_meetings_are_swept_in_three_batches_with_as_many_statements_as_25_in_three_batches_of_10()
    {
        var organization = await App.CreateOrganizationAsync();
        var member = "user_" + Guid.NewGuid().ToString("N")[..10];
        await App.AddMemberAsync(organization.Id, member, $"{member}@example.com");
        var stale = App.Time.GetUtcNow().AddHours(-3);

        // 25 meetings, batches of 10 (10, 10, 5): the job built by hand with that batch size, outside the runner.
        await App.InsertMeetingsAsync(organization.Id, 25, stale, member);
        IReadOnlyList<string> small;
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var job = ActivatorUtilities.CreateInstance<OrphanedBotsJob>(scope.ServiceProvider, Options.Create(new CleanupOptions { BatchSize = 10 }));
            using var counter = new StatementCounter(App);
            (await job.RunAsync(CancellationToken.None)).ShouldBe(25);
            small = counter.Work;
            job.Counts[SweepCounts.BatchesKey].ShouldBe(3);
        }

        // 1,200 meetings, batches of 500 (500, 500, 200), with room for 1,200 Recall checks in the run.
        await App.InsertMeetingsAsync(organization.Id, 1200, stale, member);
        IReadOnlyList<string> large;
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var job = ActivatorUtilities.CreateInstance<OrphanedBotsJob>(scope.ServiceProvider,
                Options.Create(new CleanupOptions { BatchSize = 500, OrphanChecksPerRun = 1200 }));
            using var counter = new StatementCounter(App);
            (await job.RunAsync(CancellationToken.None)).ShouldBe(1200);
            large = counter.Work;
            job.Counts[SweepCounts.BatchesKey].ShouldBe(3);
            job.Counts[SweepCounts.DoneKey].ShouldBe(1200);
            job.Counts[SweepCounts.FailedKey].ShouldBe(0);
        }
        (await App.ScalarAsync<long>("select count(*) from meetings where organization_id = @Id and status = 'failed' and failure_reason = 'bot_timeout'", organization)).ShouldBe(1225);
        (await App.ScalarAsync<long>("select count(*) from meetings where organization_id = @Id and status <> 'failed'", organization)).ShouldBe(0);
        (await App.ScalarAsync<long>(
            "select count(*) from outbox_messages o join meetings m on m.id = o.reference where m.organization_id = @Id and o.channel = 'email'", organization)).ShouldBe(1225);
        (await App.ScalarAsync<long>(
            "select count(*) from outbox_messages o join meetings m on m.id = o.reference where m.organization_id = @Id and o.channel = 'recall'", organization)).ShouldBe(1225);

        // Per batch: the page read, the conditional update, one recipient lookup (one organization, one member),
        // one multi-row outbox insert, the meeting.failed events (the meetings and their bots' histories read, the sequence
        // upsert, the events insert, the endpoint lookup), the totals upsert. 48 times the items per batch, the same statements.
        TestContext.Current.SendDiagnosticMessage($"{App.DatabaseKind}: 25 items/3 batches -> {small.Count} statements; 1200 items/3 batches -> {large.Count} statements");
        small.Count.ShouldBe(3 * 10, string.Join("\n---\n", small));
        large.Count.ShouldBe(small.Count, string.Join("\n---\n", large.Select(s => s.Length > 200 ? s[..200] : s)));

        // Through the runner with the defaults: at most Cleanup:OrphanChecksPerRun (200) candidates are asked about per run.
        await App.InsertMeetingsAsync(organization.Id, 250, stale, member);
        var run = await App.Service<JobRunner>().RunAsync(OrphanedBotsJob.Id, CancellationToken.None);
        run.Outcome.ShouldBe(JobRunner.Succeeded);
        run.Items.ShouldBe(200);
        (await App.ScalarAsync<long>("select count(*) from meetings where organization_id = @Id and status <> 'failed'", organization)).ShouldBe(50);
        (await App.Service<JobRunner>().RunAsync(OrphanedBotsJob.Id, CancellationToken.None)).Items.ShouldBe(50);
    }
}

public sealed class OrphanedBotsBatchTestsOnSqlite(SqliteApp<CleanupSetup> app) : OrphanedBotsBatchTests(app), IClassFixture<SqliteApp<CleanupSetup>>;

public sealed class OrphanedBotsBatchTestsOnPostgres(PostgresApp<CleanupSetup> app) : OrphanedBotsBatchTests(app), IClassFixture<PostgresApp<CleanupSetup>>;
