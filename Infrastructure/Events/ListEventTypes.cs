using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using Backstop.Features.ApiKeys;
using Backstop.Features.Billing;
using Backstop.Features.Billing.PlanChanges;
using Backstop.Features.Billing.Subscriptions;
using Backstop.Features.Bots;
using Backstop.Features.Messaging;
using Backstop.Features.Quota;
using Backstop.Infrastructure.Inbox;
using FastEndpoints;
using NJsonSchema;
using NSwag.Generation.Processors;
using NSwag.Generation.Processors.Contexts;

namespace Backstop.Infrastructure.Events;

/// <summary>
/// <c>endpoint.disabled</c>'s <c>data</c>: the endpoint that was disabled after failing continuously
/// (events-delivery publishes it; docs/events-catalogue.md).
/// </summary>
/// <param name="Id">The endpoint's id.</param>
/// <param name="OrganizationId">The organization that registered it; null for an operator's endpoint.</param>
/// <param name="FailingSince">When its deliveries started failing without a success since.</param>
internal sealed record EndpointDisabledData(string Id, string? OrganizationId, string Url, DateTimeOffset FailingSince, DateTimeOffset DisabledAt);

/// <param name="Type">The event type (<c>subscription.past_due</c>), as in <c>webhook</c> payloads and endpoint filters.</param>
/// <param name="Description">What causes it.</param>
/// <param name="Schema">The JSON schema (draft 2020-12) of the event's <c>data</c>.</param>
internal sealed record EventTypeView(string Type, string Description, JsonElement Schema);

internal sealed record ListEventTypesResponse(IReadOnlyList<EventTypeView> Types);

/// <summary><c>GET /v1/event-types</c>: the outbound event catalogue, with each type's data schema. Any valid key, the operator's too.</summary>
internal sealed class ListEventTypes : EndpointWithoutRequest<ListEventTypesResponse>
{
    public override void Configure()
    {
        Get("/v1/event-types");
        // No role or scope: any authenticated key (an organization's of any scope, or the operator's admin key).
        Summary(s => s.Summary = "The outbound event catalogue: each event type's name, description and the JSON schema of its data.");
    }

    public override Task HandleAsync(CancellationToken ct) =>
        Send.OkAsync(new ListEventTypesResponse(EventTypes.All
            .Select(p => new EventTypeView(p.Key, p.Value, EventDataTypes.SchemaOf(p.Key))).ToList()), ct);
}
