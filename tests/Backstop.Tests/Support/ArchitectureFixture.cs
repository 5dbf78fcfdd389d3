// Two tiny "slices" for ArchitectureTests: Alpha uses Beta once through its public interface (allowed) and once
// through its store (a violation the check must report).
namespace Backstop.Tests.ArchitectureFixture.Features.Beta
{
    public interface IBetaService
    {
        BetaResult Get(string id);
    }

    public sealed record BetaResult(string Id);

    internal sealed class BetaStore
    {
        public string Load() => "row";
    }
}

namespace Backstop.Tests.ArchitectureFixture.Features.Alpha
{
    using Backstop.Tests.ArchitectureFixture.Features.Beta;

    internal sealed class ThroughTheInterface(IBetaService beta)
    {
        public string Name() => beta.Get("1").Id;
    }

    internal sealed class ReachesIn
    {
        public string Name() => new BetaStore().Load();
    }
}

// A tiny "slice" for ArchitectureTests' driver rule: two types that use a database driver's types (violations the check
// must report) and one that stays on System.Data.Common (allowed).
namespace Backstop.Tests.ArchitectureFixture.Features.Gamma
{
    using System.Data.Common;

    internal sealed class CatchesPostgres
    {
        public static bool Duplicate(Exception e) => e is Npgsql.PostgresException { SqlState: "23505" };
    }

    internal sealed class LocksOnSqlite
    {
        public static string Lock(DbConnection connection) => connection is Microsoft.Data.Sqlite.SqliteConnection ? "" : "for update";
    }

    internal sealed class PortableOnly
    {
        public static string State(DbConnection connection) => connection.State.ToString();
    }
}

// Four tiny "endpoints" for AuditArchitectureTests: one mutating endpoint that forgets the audit (the check must
// report it), two that audit (through a service, in a lambda), one that only reads.
namespace Backstop.Tests.ArchitectureFixture.Audit
{
    public interface IFixtureAudit
    {
        Task RecordAsync(string action);
    }

    internal abstract class FixtureEndpoint
    {
        protected void Post(string route) => _ = route;

        protected void Delete(string route) => _ = route;

        protected void Get(string route) => _ = route;
    }

    internal interface IThingService
    {
        Task ChangeAsync();
    }

    internal sealed class ThingService(IFixtureAudit audit) : IThingService
    {
        public async Task ChangeAsync() => await audit.RecordAsync("thing.change");
    }

    internal sealed class ForgetsTheAudit : FixtureEndpoint
    {
        public void Configure() => Post("/things");

        public async Task HandleAsync() => await Task.Yield();
    }

    internal sealed class AuditsThroughAService(IThingService things) : FixtureEndpoint
    {
        public void Configure() => Delete("/things/{id}");

        public async Task HandleAsync()
        {
            await Task.Yield();
            await things.ChangeAsync();
        }
    }

    internal sealed class AuditsInALambda(IFixtureAudit audit) : FixtureEndpoint
    {
        public void Configure() => Post("/others");

        public async Task HandleAsync()
        {
            Func<Task> work = async () => await audit.RecordAsync("other.change");
            await work();
        }
    }

    internal sealed class OnlyReads : FixtureEndpoint
    {
        public void Configure() => Get("/things");

        public Task HandleAsync() => Task.CompletedTask;
    }
}
