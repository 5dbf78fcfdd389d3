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
