using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/event-endpoints/{id}/replay</c>: only the organization's own events.</summary>
internal sealed class ReplayOwnEvent(EventRedeliveries redeliveries) : Endpoint<ReplayEventRequest, EventReplayResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/replay");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Send one of the organization's events again to one of its event endpoints (scope admin).");
        Description(d => d.Answers<EventReplayResponse>(202).Problems(404, 409, 422));
    }

    public override async Task HandleAsync(ReplayEventRequest req, CancellationToken ct) =>
        await Send.ResponseAsync(await redeliveries.ReplayAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.EventId.Trim(), ct), 202, ct);
}
