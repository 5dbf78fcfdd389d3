using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class GetOwnEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}/recoveries/{recoveryId}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "A recovery of an event endpoint of the organization and its progress (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.GetRecoveryAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.RecoveryId, ct), ct);
}
