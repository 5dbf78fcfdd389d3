using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/admin/event-endpoints/{id}/recover</c>.</summary>
internal sealed class RecoverEvents(EventRedeliveries redeliveries) : Endpoint<RecoverEventsRequest, RecoverEventsResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/recover");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Re-send to an operator's event endpoint every event since a time that it has not acknowledged (dryRun=true: count only).");
        Description(d => d.Answers<RecoverEventsResponse>(202).Problems(404, 409, 422));
    }

    public override async Task HandleAsync(RecoverEventsRequest req, CancellationToken ct) =>
        await Send.ResponseAsync(await Recover.RunAsync(redeliveries, EndpointOwner.Operator, req, ct), 202, ct);
}
