using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/event-endpoints/{id}/enable</c>.</summary>
internal sealed class EnableOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/enable");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Enable an event endpoint of the caller's organization again (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.EnableAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
}
