using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>Starting again, or a second instance on the same database, applies no migration twice.</summary>
public abstract class StartupMigrationTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Migrating_again_applies_nothing()
    {
        var migrator = App.Service<Migrator>();
        await using var connection = await App.OpenAsync();
        var before = await connection.ExecuteScalarAsync<long>("select count(*) from schema_migrations");
        before.ShouldBe(migrator.Migrations.Count);

        (await migrator.MigrateAsync()).ShouldBe(0);
        (await migrator.MigrateAsync()).ShouldBe(0);
        (await connection.ExecuteScalarAsync<long>("select count(*) from schema_migrations")).ShouldBe(before);
    }

    [Fact]
    public async Task A_second_instance_on_the_same_database_starts_and_applies_nothing()
    {
        await using var sibling = new SiblingFactory(App);
        (await sibling.CreateClient().GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await sibling.Services.GetRequiredService<Migrator>().MigrateAsync()).ShouldBe(0);
    }
}

public sealed class StartupMigrationTestsOnSqlite(SqliteApp<DefaultSetup> app) : StartupMigrationTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class StartupMigrationTestsOnPostgres(PostgresApp<DefaultSetup> app) : StartupMigrationTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
