using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FastEndpoints;

namespace Backstop.Tests.Infrastructure;

/// <summary>Data-protection keys live in the database: what one instance protects, another unprotects.</summary>
public abstract class DataProtectionTests(BackstopFactory app) : AppTest(app)
{
    [Fact]
    public async Task Two_instances_on_one_database_share_the_data_protection_key_ring()
    {
        var protectedByFirst = App.Service<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>()
            .CreateProtector("test").Protect("antiforgery-like payload");

        await using var sibling = new SiblingFactory(App);
        sibling.Services.GetRequiredService<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>()
            .CreateProtector("test").Unprotect(protectedByFirst).ShouldBe("antiforgery-like payload");

        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from data_protection_keys")).ShouldBeGreaterThan(0);
    }
}

public sealed class DataProtectionTestsOnSqlite(SqliteApp<DefaultSetup> app) : DataProtectionTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class DataProtectionTestsOnPostgres(PostgresApp<DefaultSetup> app) : DataProtectionTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
