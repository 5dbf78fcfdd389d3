namespace Backstop.Tests.Infrastructure.Data;

/// <summary>
/// A durable transaction commits with an fsync (SQLite: synchronous = FULL on its connection; PostgreSQL:
/// synchronous_commit = on for it, whatever the server says: the tests' server runs with it off). Every other
/// connection keeps synchronous = normal.
/// </summary>
public abstract class DurableCommitTests(BackstopFactory app) : AppTest(app)
{
    private Db Db => App.Service<Db>();

    private Task<string> SettingAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? tx = null) =>
        Db.Dialect == Dialect.Sqlite
            ? connection.ExecuteScalarAsync<long>("pragma synchronous", transaction: tx).ContinueWith(t => t.Result switch { 1 => "normal", 2 => "full", var n => n.ToString() })
            : connection.ExecuteScalarAsync<string>("show synchronous_commit", transaction: tx)!;

    [Fact]
    public async Task A_durable_transaction_commits_with_an_fsync_and_ordinary_connections_do_not()
    {
        string inside;
        await using (var c = await Db.OpenAsync())
        {
            await using var tx = await Db.BeginDurableAsync(c);
            await c.ExecuteAsync("insert into job_leases (job_id, holder, lease_until, created_at, updated_at) values (@job, 'durable-test', @now, @now, @now)",
                new { job = "durable-" + Guid.NewGuid().ToString("N"), now = App.Time.GetUtcNow() }, tx);
            inside = await SettingAsync(c, tx);
            await tx.CommitAsync();
        }
        inside.ShouldBe(Db.Dialect == Dialect.Sqlite ? "full" : "on");

        // Several at once, so the physical connection the durable commit used is among them.
        var connections = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Db.OpenAsync()));
        try
        {
            foreach (var c in connections)
                (await SettingAsync(c)).ShouldBe(Db.Dialect == Dialect.Sqlite ? "normal" : "off");
        }
        finally
        {
            foreach (var c in connections) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_writer_that_keeps_its_connection_gets_a_durable_commit_per_transaction()
    {
        await using var connection = await Db.OpenAsync();
        (await SettingAsync(connection)).ShouldBe(Db.Dialect == Dialect.Sqlite ? "normal" : "off");
        var job = "durable-" + Guid.NewGuid().ToString("N");
        for (var i = 0; i < 2; i++)
        {
            await using var tx = await Db.BeginDurableAsync(connection);
            (await SettingAsync(connection, tx)).ShouldBe(Db.Dialect == Dialect.Sqlite ? "full" : "on");
            await connection.ExecuteAsync(
                """
                insert into job_leases (job_id, holder, lease_until, created_at, updated_at) values (@job, 'durable-test', @now, @now, @now)
                on conflict (job_id) do update set updated_at = excluded.updated_at
                """,
                new { job, now = App.Time.GetUtcNow() }, tx);
            await tx.CommitAsync();
        }
        (await connection.ExecuteScalarAsync<long>("select count(*) from job_leases where job_id = @job", new { job })).ShouldBe(1);
    }
}

public sealed class DurableCommitTestsOnSqlite(SqliteApp<DefaultSetup> app) : DurableCommitTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class DurableCommitTestsOnPostgres(PostgresApp<DefaultSetup> app) : DurableCommitTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
