using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/event-endpoints/{id}/attempts</c>: the delivery log (time, duration, status, the first 4 KiB of the answer, the error).</summary>
internal sealed class ListEventEndpointAttempts(Db db) : Endpoint<ListEndpointAttemptsRequest, Page<EventDeliveryAttempt>>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}/attempts");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the delivery attempts of an operator's event endpoint, newest first.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(ListEndpointAttemptsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EndpointAttempts.ListAsync(db, EndpointOwner.Operator, req, ct), ct);
}
