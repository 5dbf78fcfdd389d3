using FastEndpoints;

namespace Backstop.Infrastructure.Events;

internal sealed record EventEndpointIdRequest
{
    public string Id { get; init; } = "";
}

internal sealed record ListEventEndpointsRequest : PageRequest
{
    public sealed class Validator : Validator<ListEventEndpointsRequest>
    {
        public Validator() => this.AddPagingRules();
    }
}

internal sealed record ListEndpointAttemptsRequest : PageRequest
{
    public string Id { get; init; } = "";

    public sealed class Validator : Validator<ListEndpointAttemptsRequest>
    {
        public Validator() => this.AddPagingRules();
    }
}
