using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/event-endpoints</c>: the operator's endpoints, newest first.</summary>
internal sealed class ListEventEndpoints(EventEndpointStore store) : Endpoint<ListEventEndpointsRequest, Page<EventEndpointResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the operator's event endpoints (never their secrets).");
    }

    public override async Task HandleAsync(ListEventEndpointsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.ListAsync(EndpointOwner.Operator, req, ct), ct);
}
