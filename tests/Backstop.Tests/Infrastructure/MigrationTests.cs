using Backstop.Infrastructure.Observability;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Backstop.Tests.Infrastructure;

public abstract class MigrationTests(BackstopFactory app) : AppTest(app)
{
    private async Task<DatabaseOptions> FreshDatabaseAsync() => App is PostgresFactory pg
        ? new DatabaseOptions { Provider = "postgres", ConnectionString = await pg.Postgres.CreateDatabaseAsync() }
        : new DatabaseOptions { Provider = "sqlite", ConnectionString = $"Data Source={Path.Combine(Path.GetTempPath(), "backstop-tests", Guid.NewGuid().ToString("N") + ".db")}" };

    [Fact]
    public async Task Instances_migrating_a_fresh_database_together_apply_each_migration_once()
    {
        var options = await FreshDatabaseAsync();
        var instances = Enumerable.Range(0, 6).Select(_ =>
        {
            var db = new Db(Options.Create(options));
            return (db, migrator: new Migrator(db, TimeProvider.System, NullLogger<Migrator>.Instance));
        }).ToList();

        var applied = await Task.WhenAll(instances.Select(i => Task.Run(() => i.migrator.MigrateAsync())));

        applied.Sum().ShouldBe(instances[0].migrator.Migrations.Count);
        await using var connection = await instances[0].db.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from schema_migrations")).ShouldBe(instances[0].migrator.Migrations.Count);
        foreach (var (db, _) in instances) await db.DisposeAsync();
    }

    [Fact]
    public async Task Health_is_unhealthy_when_the_database_cannot_be_reached()
    {
        var options = App is PostgresFactory
            ? new DatabaseOptions { Provider = "postgres", ConnectionString = "Host=127.0.0.1;Port=1;Username=nobody;Password=secret-pw;Timeout=2" }
            // A directory where the database file should be: SQLite cannot open it.
            : new DatabaseOptions { Provider = "sqlite", ConnectionString = $"Data Source={Directory.CreateTempSubdirectory().FullName}" };
        await using var db = new Db(Options.Create(options));
        var check = new DatabaseHealthCheck(db, new Migrator(db, TimeProvider.System, NullLogger<Migrator>.Instance));

        var result = await check.CheckHealthAsync(new HealthCheckContext());

        result.Status.ShouldBe(HealthStatus.Unhealthy);
        result.Description!.ShouldContain("unreachable");
        result.Description!.ShouldNotContain("secret-pw");
    }
}

public sealed class MigrationTestsOnSqlite(SqliteApp<DefaultSetup> app) : MigrationTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class MigrationTestsOnPostgres(PostgresApp<DefaultSetup> app) : MigrationTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
