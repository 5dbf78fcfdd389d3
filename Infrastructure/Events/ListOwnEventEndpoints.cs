using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/event-endpoints</c>: the caller's organization's endpoints (scope admin).</summary>
internal sealed class ListOwnEventEndpoints(EventEndpointStore store) : Endpoint<ListEventEndpointsRequest, Page<EventEndpointResponse>>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "List the caller's organization's event endpoints (scope admin).");
    }

    public override async Task HandleAsync(ListEventEndpointsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.ListAsync(new EndpointOwner(User.OrganizationId()), req, ct), ct);
}
