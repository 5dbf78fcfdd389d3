using Npgsql;

namespace Backstop.Tests.Infrastructure.Data;

/// <summary>Backstop's PostgreSQL pool settings apply only where the operator's connection string is silent.</summary>
public sealed class PoolDefaultsTests
{
    [Fact]
    public void A_connection_string_without_them_gets_auto_prepare_and_no_reset_on_close()
    {
        var built = new NpgsqlConnectionStringBuilder(Db.WithPoolDefaults("Host=db;Database=backstop;Username=app;Password=secret"));
        built.MaxAutoPrepare.ShouldBe(64);
        built.NoResetOnClose.ShouldBeTrue();
        built.Host.ShouldBe("db");
        built.Password.ShouldBe("secret");
    }

    [Theory]
    [InlineData("Host=db;Max Auto Prepare=0;No Reset On Close=false")]
    [InlineData("Host=db;MaxAutoPrepare=0;NoResetOnClose=false")]
    [InlineData("Host=db;max auto prepare=0;no reset on close=false")]
    public void What_the_operator_sets_is_kept(string connectionString)
    {
        var built = new NpgsqlConnectionStringBuilder(Db.WithPoolDefaults(connectionString));
        built.MaxAutoPrepare.ShouldBe(0);
        built.NoResetOnClose.ShouldBeFalse();
    }
}
