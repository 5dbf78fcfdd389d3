using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

/// <summary><c>GET /v1/events</c>: the caller's organization's events, newest first.</summary>
internal sealed class ListEvents(Db db) : Endpoint<ListEventsRequest, Page<EventResponse>>
{
    public override void Configure()
    {
        Get("/v1/events");
        Policies(BackstopPolicies.Read);
        Summary(s => s.Summary = "List the caller's organization's events, newest first (optionally by type and time).");
    }

    public sealed class Validator : Validator<ListEventsRequest>
    {
        public Validator() => EventQueries.AddListRules(this);
    }

    public override async Task HandleAsync(ListEventsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EventQueries.ListAsync(db, req, scoped: true, User.OrganizationId(), ct), ct);
}
