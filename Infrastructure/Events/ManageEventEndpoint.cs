using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Data;
using Backstop.Infrastructure.Security;
using FastEndpoints;

namespace Backstop.Infrastructure.Events;

internal sealed record EventEndpointIdRequest
{
    public string Id { get; init; } = "";
}

internal sealed record ListEventEndpointsRequest : PageRequest
{
    public sealed class Validator : Validator<ListEventEndpointsRequest>
    {
        public Validator() => this.AddPagingRules();
    }
}

/// <summary><c>GET /v1/admin/event-endpoints</c>: the operator's endpoints, newest first.</summary>
internal sealed class ListEventEndpoints(EventEndpointStore store) : Endpoint<ListEventEndpointsRequest, Page<EventEndpointResponse>>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the operator's event endpoints (never their secrets).");
    }

    public override async Task HandleAsync(ListEventEndpointsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.ListAsync(EndpointOwner.Operator, req, ct), ct);
}

/// <summary><c>GET /v1/event-endpoints</c>: the caller's organization's endpoints (scope admin).</summary>
internal sealed class ListOwnEventEndpoints(EventEndpointStore store) : Endpoint<ListEventEndpointsRequest, Page<EventEndpointResponse>>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "List the caller's organization's event endpoints (scope admin).");
    }

    public override async Task HandleAsync(ListEventEndpointsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.ListAsync(new EndpointOwner(User.OrganizationId()), req, ct), ct);
}

/// <summary><c>GET /v1/admin/event-endpoints/{id}</c>.</summary>
internal sealed class GetEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "An operator's event endpoint.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.GetAsync(EndpointOwner.Operator, req.Id, ct), ct);
}

/// <summary><c>GET /v1/event-endpoints/{id}</c>: another organization's endpoint is 404.</summary>
internal sealed class GetOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "An event endpoint of the caller's organization (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.GetAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
}

/// <summary><c>DELETE /v1/admin/event-endpoints/{id}</c>: soft delete; nothing more is delivered to it.</summary>
internal sealed class DeleteEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/admin/event-endpoints/{id}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Delete an operator's event endpoint.");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        await store.DeleteAsync(EndpointOwner.Operator, req.Id, ct);
        await Send.NoContentAsync(ct);
    }
}

/// <summary><c>DELETE /v1/event-endpoints/{id}</c>.</summary>
internal sealed class DeleteOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest>
{
    public override void Configure()
    {
        Delete("/v1/event-endpoints/{id}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Delete an event endpoint of the caller's organization (scope admin).");
        Description(d => d.AnswersNoContent().Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        await store.DeleteAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct);
        await Send.NoContentAsync(ct);
    }
}

/// <summary><c>POST /v1/admin/event-endpoints/{id}/rotate-secret</c>: the new secret is in this answer only; the old one signs too for 24 h.</summary>
internal sealed class RotateEventEndpointSecret(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/rotate-secret");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Rotate an operator's event endpoint's signing secret (the previous one stays valid and signs too for 24 hours).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.OkAsync(await store.RotateSecretAsync(EndpointOwner.Operator, req.Id, ct), ct);
    }
}

/// <summary><c>POST /v1/event-endpoints/{id}/rotate-secret</c>.</summary>
internal sealed class RotateOwnEventEndpointSecret(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointWithSecretResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/rotate-secret");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Rotate the signing secret of an event endpoint of the caller's organization (scope admin; the previous one signs too for 24 hours).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct)
    {
        SecurityHeaders.NoStore(HttpContext.Response);
        await Send.OkAsync(await store.RotateSecretAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
    }
}

/// <summary><c>POST /v1/admin/event-endpoints/{id}/enable</c>: enables a disabled endpoint and clears its failing streak.</summary>
internal sealed class EnableEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Post("/v1/admin/event-endpoints/{id}/enable");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Enable an operator's event endpoint again (after it was disabled by hand or for failing).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.EnableAsync(EndpointOwner.Operator, req.Id, ct), ct);
}

/// <summary><c>POST /v1/event-endpoints/{id}/enable</c>.</summary>
internal sealed class EnableOwnEventEndpoint(EventEndpointStore store) : Endpoint<EventEndpointIdRequest, EventEndpointResponse>
{
    public override void Configure()
    {
        Post("/v1/event-endpoints/{id}/enable");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Enable an event endpoint of the caller's organization again (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(EventEndpointIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await store.EnableAsync(new EndpointOwner(User.OrganizationId()), req.Id, ct), ct);
}

internal sealed record ListEndpointAttemptsRequest : PageRequest
{
    public string Id { get; init; } = "";

    public sealed class Validator : Validator<ListEndpointAttemptsRequest>
    {
        public Validator() => this.AddPagingRules();
    }
}

internal static class EndpointAttempts
{
    /// <summary>The delivery log of the owner's endpoint (404 for another owner's), newest first, in the API's page envelope.</summary>
    public static async Task<Page<EventDeliveryAttempt>> ListAsync(Db db, EndpointOwner owner, ListEndpointAttemptsRequest req, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        await EventEndpointStore.FindAsync(connection, null, owner, req.Id, ct);
        var page = await EventAttempts.ListAsync(connection, null, req.Id, null, req.After, req.Take, ct);
        return new Page<EventDeliveryAttempt>(page.Items, page.NextCursor is null ? null : Paging.Encode(page.NextCursor));
    }
}

/// <summary><c>GET /v1/admin/event-endpoints/{id}/attempts</c>: the delivery log (time, duration, status, the first 4 KiB of the answer, the error).</summary>
internal sealed class ListEventEndpointAttempts(Db db) : Endpoint<ListEndpointAttemptsRequest, Page<EventDeliveryAttempt>>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}/attempts");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "List the delivery attempts of an operator's event endpoint, newest first.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(ListEndpointAttemptsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EndpointAttempts.ListAsync(db, EndpointOwner.Operator, req, ct), ct);
}

/// <summary><c>GET /v1/event-endpoints/{id}/attempts</c>.</summary>
internal sealed class ListOwnEventEndpointAttempts(Db db) : Endpoint<ListEndpointAttemptsRequest, Page<EventDeliveryAttempt>>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}/attempts");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "List the delivery attempts of an event endpoint of the caller's organization, newest first (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(ListEndpointAttemptsRequest req, CancellationToken ct) =>
        await Send.OkAsync(await EndpointAttempts.ListAsync(db, new EndpointOwner(User.OrganizationId()), req, ct), ct);
}
