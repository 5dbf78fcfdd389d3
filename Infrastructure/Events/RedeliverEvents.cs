using Backstop.Infrastructure.Api;
using Backstop.Infrastructure.Security;
using FastEndpoints;
using FluentValidation;

namespace Backstop.Infrastructure.Events;

internal sealed record ReplayEventRequest
{
    public string Id { get; init; } = "";

    /// <summary>The event to send again (<c>evt_…</c>).</summary>
    public string EventId { get; init; } = "";

    public sealed class Validator : Validator<ReplayEventRequest>
    {
        public Validator() => RuleFor(r => r.EventId).NotEmpty().WithMessage("eventId is required.");
    }
}

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

internal sealed record RecoverEventsRequest
{
    public string Id { get; init; } = "";

    /// <summary>Re-send the unacknowledged events that occurred at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Only count what would be sent; start nothing.</summary>
    [QueryParam] public bool? DryRun { get; init; }

    public sealed class Validator : Validator<RecoverEventsRequest>
    {
        public Validator() => RuleFor(r => r.Since).NotNull().WithMessage("since is required.");
    }
}

/// <summary>The answer of a recovery request: the count, and the recovery started (none for a dry run).</summary>
internal sealed record RecoverEventsResponse(int Total, bool DryRun, EventRecoveryResponse? Recovery);

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

internal static class Recover
{
    /// <summary>A dry run answers 202 too (one success status per operation): nothing was started, <c>recovery</c> is null.</summary>
    public static async Task<RecoverEventsResponse> RunAsync(EventRedeliveries redeliveries, EndpointOwner owner, RecoverEventsRequest req, CancellationToken ct)
    {
        var dryRun = req.DryRun == true;
        var (total, recovery) = await redeliveries.RecoverAsync(owner, req.Id, req.Since!.Value, dryRun, ct);
        return new RecoverEventsResponse(total, dryRun, recovery);
    }
}

internal sealed record RecoveryIdRequest
{
    public string Id { get; init; } = "";
    public string RecoveryId { get; init; } = "";
}

/// <summary><c>GET /v1/admin/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class GetEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Get("/v1/admin/event-endpoints/{id}/recoveries/{recoveryId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "A recovery of an operator's event endpoint and its progress.");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.GetRecoveryAsync(EndpointOwner.Operator, req.Id, req.RecoveryId, ct), ct);
}

/// <summary><c>GET /v1/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class GetOwnEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Get("/v1/event-endpoints/{id}/recoveries/{recoveryId}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "A recovery of an event endpoint of the organization and its progress (scope admin).");
        Description(d => d.Problems(404));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.GetRecoveryAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.RecoveryId, ct), ct);
}

/// <summary><c>DELETE /v1/admin/event-endpoints/{id}/recoveries/{recoveryId}</c>: cancels it.</summary>
internal sealed class CancelEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Delete("/v1/admin/event-endpoints/{id}/recoveries/{recoveryId}");
        Roles(BackstopClaims.AdminRole);
        Summary(s => s.Summary = "Cancel a running recovery of an operator's event endpoint (what it enqueued stays enqueued).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.CancelRecoveryAsync(EndpointOwner.Operator, req.Id, req.RecoveryId, ct), ct);
}

/// <summary><c>DELETE /v1/event-endpoints/{id}/recoveries/{recoveryId}</c>.</summary>
internal sealed class CancelOwnEventRecovery(EventRedeliveries redeliveries) : Endpoint<RecoveryIdRequest, EventRecoveryResponse>
{
    public override void Configure()
    {
        Delete("/v1/event-endpoints/{id}/recoveries/{recoveryId}");
        Policies(BackstopPolicies.Admin);
        Summary(s => s.Summary = "Cancel a running recovery of an event endpoint of the organization (scope admin).");
        Description(d => d.Problems(404, 409));
    }

    public override async Task HandleAsync(RecoveryIdRequest req, CancellationToken ct) =>
        await Send.OkAsync(await redeliveries.CancelRecoveryAsync(new EndpointOwner(User.OrganizationId()), req.Id, req.RecoveryId, ct), ct);
}
