using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/event-endpoints/{id}/attempts</c>.</summary>
internal sealed class ListOwnEventEndpointAttempts(Db db) : Endpoint<ListEndpointAttemptsRequest, Page<EventDeliveryAttempt>>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}/attempts");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "List the delivery attempts of an event endpoint of the caller's organization, newest first (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(ListEndpointAttemptsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EndpointAttempts.ListAsync(db, new EndpointOwner(User.OrganizationId()), req, ct), ct);
}
