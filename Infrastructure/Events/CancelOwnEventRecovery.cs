using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>DELETE /v1/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class CancelOwnEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Delete("/v1/event-endpoints/{id}/recoveries/{recoveryId}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Cancel a running recovery of an event endpoint of the organization (scope admin).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.CancelRecoveryAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.RecoveryId, ct), ct);
}
