namespace Backstop.Tests.Support;

/// <summary>
/// Base of every integration test class. The same tests run once per database, through two small subclasses that
/// pick the factory (<c>...OnSqlite</c>, <c>...OnPostgres</c>).
/// </summary>
public abstract class AppTest
{
    protected AppTest(BackstopFactory app)
    {
        if (app is PostgresFactory { Postgres.ConnectionString: null } pg)
            Assert.Skip(pg.Postgres.UnavailableReason ?? "PostgreSQL is not available.");
        App = app;
    }

    protected BackstopFactory App { get; }
}
