using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/events/{id}</c>: any event with its deliveries to every endpoint.</summary>
internal sealed class GetEvent(Db db) : Endpoint<EventIdRequest, EventDetailResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/events/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Any event with its deliveries to the operator's and its organization's endpoints.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventIdRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var e = await EventQueries.FindAsync(connection, null, req.Id, scoped: false, null, ct);
        await Send.OkAsync(await EventQueries.DetailAsync(connection, e, scoped: false, ct), ct);
    }
}
