using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/event-endpoints/{id}</c>.</summary>
internal sealed class GetEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "An operator's event endpoint.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.GetAsync(EndpointOwner.Operator, req.Id, ct), ct);
}
