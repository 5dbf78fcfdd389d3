using Backstop.Infrastructure.Jobs;
using Hangfire;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.States;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure;

/// <summary>Hangfire's storage per dialect: its own SQLite file by default, PostgreSQL's schema, memory on request.</summary>
public abstract class HangfireStorageTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public void On_sqlite_hangfire_has_a_file_of_its_own_and_on_postgres_its_schema()
    {
        var storage = App.Service<JobStorage>();
        if (App.DatabaseKind == "sqlite")
        {
            storage.ShouldBeOfType<SQLiteStorage>();
            var file = App.Settings["Jobs:SqliteFile"]!;
            File.Exists(file).ShouldBeTrue();
            Path.GetFullPath(file).ShouldNotBe(Path.GetFullPath(((SqliteFactory)App).File));
        }
        else
        {
            storage.ShouldBeOfType<PostgreSqlStorage>();
        }
    }

    [Fact]
    public async Task Hangfire_state_survives_a_restart()
    {
        // A job Hangfire holds (as the dashboard shows it), created by this instance...
        var id = new BackgroundJobClient(App.Service<JobStorage>()).Create(
            Job.FromExpression<JobRunner>(r => r.RunScheduledAsync("job-runs-retention", CancellationToken.None)),
            new ScheduledState(TimeSpan.FromDays(1)));

        // ...is still there for the next one on the same files.
        await using var restarted = new SiblingFactory(App);
        var details = restarted.Services.GetRequiredService<JobStorage>().GetMonitoringApi().JobDetails(id);
        details.ShouldNotBeNull();
        details.History.ShouldContain(h => h.StateName == ScheduledState.StateName);
    }

    [Fact]
    public async Task Memory_storage_stays_an_option_on_sqlite()
    {
        await using var memory = new SiblingFactory(App, new Dictionary<string, string?> { ["Jobs:Storage"] = "memory" });
        var storage = memory.Services.GetRequiredService<JobStorage>();
        if (App.DatabaseKind == "sqlite") storage.ShouldBeOfType<InMemoryStorage>();
        else storage.ShouldBeOfType<PostgreSqlStorage>();
    }
}

public sealed class HangfireStorageTestsOnSqlite(SqliteApp<DefaultSetup> app) : HangfireStorageTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class HangfireStorageTestsOnPostgres(PostgresApp<DefaultSetup> app) : HangfireStorageTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
