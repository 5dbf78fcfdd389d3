using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/admin/event-endpoints/{id}/rotate-secret</c>: the new secret is in this answer only; the old one signs too for 24 h.</summary>
internal sealed class RotateEventEndpointSecret(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/rotate-secret");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Rotate an operator's event endpoint's signing secret (the previous one stays valid and signs too for 24 hours).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.OkAsync(await store.RotateSecretAsync(EndpointOwner.Operator, req.Id, ct), ct);
    }
}
