using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>DELETE /v1/admin/event-endpoints/{id}/recoveries/{recoveryId}</c>: cancels it.</summary>
internal sealed class CancelEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Delete("/v1/admin/event-endpoints/{id}/recoveries/{recoveryId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Cancel a running recovery of an operator's event endpoint (what it enqueued stays enqueued).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.CancelRecoveryAsync(EndpointOwner.Operator, req.Id, req.RecoveryId, ct), ct);
}
