using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>POST /v1/event-endpoints/{id}/recover</c>.</summary>
internal sealed class RecoverOwnEvents(EventRedeliveries redeliveries) : Endpoint<RecoverEventsRequest, RecoverEventsResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/recover");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Re-send to an event endpoint of the organization every event since a time that it has not acknowledged (scope admin; dryRun=true: count only).");
        Description(d => d.Answers<RecoverEventsResponse>(202).Problems(404, 409, 422));
    }

    public override async Task HandleAsync(RecoverEventsRequest req, CancellationToken ct) =>
        await Send.ResponseAsync(await Recover.RunAsync(redeliveries, new EndpointOwner(User.OrganizationId()), req, ct), 202, ct);
}
