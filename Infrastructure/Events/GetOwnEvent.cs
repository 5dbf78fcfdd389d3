using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/events/{id}</c>: an event of the caller's organization with its deliveries to the organization's endpoints.</summary>
internal sealed class GetOwnEvent(Db db) : Endpoint<EventIdRequest, EventDetailResponse>
{
    public override void Configure()
    {
        Get("/v1/events/{id}");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "An event of the caller's organization with its deliveries (status, attempts, last error).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventIdRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var e = await EventQueries.FindAsync(connection, null, req.Id, scoped: true, User.OrganizationId(), ct);
        await Send.OkAsync(await EventQueries.DetailAsync(connection, e, scoped: true, ct), ct);
    }
}
