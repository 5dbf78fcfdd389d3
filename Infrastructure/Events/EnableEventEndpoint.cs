using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/admin/event-endpoints/{id}/enable</c>: enables a disabled endpoint and clears its failing streak.</summary>
internal sealed class EnableEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/enable");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Enable an operator's event endpoint again (after it was disabled by hand or for failing).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.EnableAsync(EndpointOwner.Operator, req.Id, ct), ct);
}
