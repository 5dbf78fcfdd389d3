using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/event-endpoints</c>: an organization's endpoint (scope admin), receiving only its own events.</summary>
internal sealed class CreateOwnEventEndpoint(EventEndpointStore store) : Endpoint<CreateEventEndpointRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Register an event endpoint of the caller's organization, receiving its events (scope admin; the secret is shown only in this response).");
        Description(d => d.Answers<EventEndpointWithSecretResponse>(201).Problems(409, 422));
    }

    public override async Task HandleAsync(CreateEventEndpointRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.ResponseAsync(await store.CreateAsync(new EndpointOwner(User.OrganizationId()), req.ToChanges(), ct), 201, ct);
    }
}
