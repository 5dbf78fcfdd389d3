using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>DELETE /v1/event-endpoints/{id}</c>.</summary>
internal sealed class DeleteOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/event-endpoints/{id}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Delete an event endpoint of the caller's organization (scope admin).");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        await store.DeleteAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct);
        await Send.NoContentAsync(ct);
    }
}
