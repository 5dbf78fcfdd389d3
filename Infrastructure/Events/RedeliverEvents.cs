using FastEndpoints;

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

internal sealed record RecoveryIdRequest
{
    public string Id { get; init; } = "";
    public string RecoveryId { get; init; } = "";
}
