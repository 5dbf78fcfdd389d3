// Fixtures for ArchitectureStringTests: Alpha's code names Beta's tables (in a statement, in interpolation pieces),
// Infrastructure's Gamma uses a Feature type, and of two plugins one is left out of the container.
namespace Backstop.Tests.ArchitectureFixture.Features.Alpha
{
    internal sealed class AlphaOwnSql
    {
        public static string Sql() => "select id from alpha_rows where id = @id and kind <> 'beta_rows'";
    }

    internal sealed class ReadsBetasTable
    {
        public static string Sql() => "select id from beta_rows where id = @id";
    }

    internal sealed class JoinsBetasTableInPieces
    {
        public static string Sql(string lockClause) => "select a.id from alpha_rows a " + lockClause + " join beta_notes n on n.id = a.id";
    }

    internal sealed class MentionsBetaInProse
    {
        public static string Message() => "The beta_rows of an organization are Beta's; this is a sentence, not SQL.";
    }

    internal sealed class RegisteredPlugin : Infrastructure.Gamma.IPlugin;

    internal sealed class ForgottenPlugin : Infrastructure.Gamma.IPlugin;
}

namespace Backstop.Tests.ArchitectureFixture.Features.Beta
{
    internal sealed class BetaOwnSql
    {
        public static string Sql() => "delete from beta_rows where id = @id";
    }
}

namespace Backstop.Tests.ArchitectureFixture.Infrastructure.Gamma
{
    internal interface IPlugin;

    internal sealed class UsesAFeature
    {
        public string Load() => new Features.Beta.BetaStore().Load();
    }

    internal sealed class OwnOnly
    {
        public string Name() => nameof(OwnOnly);
    }
}
