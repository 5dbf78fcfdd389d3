using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>DELETE /v1/admin/event-endpoints/{id}</c>: soft delete; nothing more is delivered to it.</summary>
internal sealed class DeleteEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/event-endpoints/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Delete an operator's event endpoint.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        await store.DeleteAsync(EndpointOwner.Operator, req.Id, ct);
        await Send.NoContentAsync(ct);
    }
}
