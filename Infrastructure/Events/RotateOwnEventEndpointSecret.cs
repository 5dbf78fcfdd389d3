using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/event-endpoints/{id}/rotate-secret</c>.</summary>
internal sealed class RotateOwnEventEndpointSecret(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/rotate-secret");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Rotate the signing secret of an event endpoint of the caller's organization (scope admin; the previous one signs too for 24 hours).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.OkAsync(await store.RotateSecretAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
    }
}
