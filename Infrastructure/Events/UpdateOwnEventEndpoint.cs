using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>PATCH /v1/event-endpoints/{id}</c>.</summary>
internal sealed class UpdateOwnEventEndpoint(EventEndpointStore store) : Endpoint<UpdateEventEndpointRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Patch("/v1/event-endpoints/{id}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Change an event endpoint of the caller's organization (scope admin).");
        Description(d => d.Problems(404, 422));
    }

    public override async Task HandleAsync(UpdateEventEndpointRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.UpdateAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.ToChanges(), ct), ct);
}
