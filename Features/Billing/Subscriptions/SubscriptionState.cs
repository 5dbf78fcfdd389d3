using System.Globalization;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>A provider's view of a subscription at <see cref="ProviderUpdatedAt"/> (the event's own time), as it is stored locally.</summary>
internal sealed record ProviderSubscriptionState
{
    public string OrganizationId { get; init; } = "";
    public string PlanCode { get; init; } = "";
    public string Provider { get; init; } = "";
    public string ProviderSubscriptionId { get; init; } = "";
    public string? ProviderCustomerId { get; init; }
    public string? ProviderPriceId { get; init; }
    public string Status { get; init; } = "";
    public DateTimeOffset? CurrentPeriodStart { get; init; }
    public DateTimeOffset? CurrentPeriodEnd { get; init; }
    public bool CancelAtPeriodEnd { get; init; }
    public DateTimeOffset? CanceledAt { get; init; }
    public DateTimeOffset? TrialEnd { get; init; }
    public DateTimeOffset ProviderUpdatedAt { get; init; }

    /// <summary>Stripe's <c>pause_collection</c> is set: gated as paused.</summary>
    public bool CollectionPaused { get; init; }

    /// <summary>A grace to open if the row has none (Paddle's <c>past_due</c>: the grace starts when the status enters it).</summary>
    public DateTimeOffset? StartGraceEndsAt { get; init; }
}
