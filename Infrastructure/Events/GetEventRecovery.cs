using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class GetEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}/recoveries/{recoveryId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "A recovery of an operator's event endpoint and its progress.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.GetRecoveryAsync(EndpointOwner.Operator, req.Id, req.RecoveryId, ct), ct);
}
