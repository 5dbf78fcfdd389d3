using FastEndpoints;

namespace Backstop.Infrastructure.OperatorConsole;

internal sealed record CreateOperatorKeyRequest
{
    public string Name { get; init; } = "";
    /// <summary><c>admin</c> (acts in the console) or <c>read_only</c> (sees everything, changes nothing).</summary>
    public string Role { get; init; } = "";
}

internal sealed record ListOperatorKeysRequest : PageRequest;

internal sealed record OperatorKeyIdRequest
{
    public string Id { get; init; } = "";
}
