using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/admin/events</c>: every organization's events (and the operator's own), newest first.</summary>
internal sealed class ListAllEvents(Db db) : Endpoint<ListAllEventsRequest, Page<EventResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/events");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List every organization's events, newest first (optionally by organization, type and time).");
    }

    public sealed class Validator : Validator<ListAllEventsRequest>
    {
        public Validator() => EventQueries.AddListRules(this);
    }

    public override async Task HandleAsync(ListAllEventsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EventQueries.ListAsync(db, req, scoped: false, string.IsNullOrWhiteSpace(req.OrganizationId) ? null : req.OrganizationId.Trim(), ct), ct);
}
