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

// For ProblemCodeCatalogueTests: three problem codes passed as constants (a constructor, a subclass's constructor, a
// helper), one code that is a plan's code and no problem's.
namespace Backstop.Tests.ArchitectureFixture.Problems
{
    internal class FixtureProblem(int status, string code, string detail) : Exception(detail)
    {
        public int Status { get; } = status;
        public string Code { get; } = code;
    }

    internal sealed class FixtureConflict(string code, string detail) : FixtureProblem(409, code, detail);

    internal static class FixtureProblems
    {
        public static string Write(object? context, int status, string code, string detail) => $"{context}{status}{code}{detail}";
    }

    internal static class FixtureSites
    {
        public static Exception Missing(string id) => new FixtureProblem(404, "fixture_missing", id.Length > 3 ? $"No thing {id}." : "No thing.");

        public static Exception Conflict(string id) => new FixtureConflict("fixture_conflict", $"Thing {id} changed.");

        public static string Gone() => FixtureProblems.Write(null, 410, "fixture_gone", "Gone.");

        public static string NotAProblem() => Lookup("not_a_problem");

        private static string Lookup(string code) => code;
    }
}
