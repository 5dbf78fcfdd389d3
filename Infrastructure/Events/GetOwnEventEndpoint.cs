using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/event-endpoints/{id}</c>: another organization's endpoint is 404.</summary>
internal sealed class GetOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "An event endpoint of the caller's organization (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.GetAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
}
