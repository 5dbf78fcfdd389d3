using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/admin/event-endpoints/{id}/replay</c>.</summary>
internal sealed class ReplayEvent(EventRedeliveries redeliveries) : Endpoint<ReplayEventRequest, EventReplayResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/replay");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Send one event again to an operator's event endpoint.");
        Description(d => d.Answers<EventReplayResponse>(202).Problems(404, 409, 422));
    }

    public override async Task HandleAsync(ReplayEventRequest req, CancellationToken ct) =>
        await Send.ResponseAsync(await redeliveries.ReplayAsync(EndpointOwner.Operator, req.Id, req.EventId.Trim(), ct), 202, ct);
}
