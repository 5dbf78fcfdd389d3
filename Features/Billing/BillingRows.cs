namespace Backstop.Features.Billing;

/// <summary>A row of <c>plans</c>; <see cref="Limits"/> is the stored JSON object (metric → limit, -1 unlimited).</summary>
internal sealed record PlanRow
{
    public string Code { get; init; } = "";
    public string Name { get; init; } = "";
    public string? StripePriceId { get; init; }
    public int TrialDays { get; init; }
    public string Limits { get; init; } = "{}";
    public bool Active { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public IReadOnlyDictionary<string, long> LimitMap() =>
        JsonSerializer.Deserialize<Dictionary<string, long>>(Limits) ?? [];
}

/// <summary>A row of <c>subscriptions</c>: the organization's one current subscription.</summary>
internal sealed record SubscriptionRow
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public string PlanCode { get; init; } = "";
    public string Provider { get; init; } = "";
    public string? ProviderSubscriptionId { get; init; }
    public string? ProviderCustomerId { get; init; }
    public string? ProviderPriceId { get; init; }
    public string Status { get; init; } = "";
    public DateTimeOffset? CurrentPeriodStart { get; init; }
    public DateTimeOffset? CurrentPeriodEnd { get; init; }
    public bool CancelAtPeriodEnd { get; init; }
    public DateTimeOffset? CanceledAt { get; init; }
    public DateTimeOffset? TrialEnd { get; init; }
    public DateTimeOffset? GraceEndsAt { get; init; }
    public DateTimeOffset? PaymentFailedAt { get; init; }
    public int PaymentRetryCount { get; init; }
    public string? PendingPlanCode { get; init; }
    public DateTimeOffset? PendingChangeAt { get; init; }
    public DateTimeOffset? ProviderUpdatedAt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Stripe's <c>pause_collection</c> is set: gated as paused.</summary>
    public bool CollectionPaused { get; init; }

    /// <summary>The subscription's plan is the one in force (otherwise the default plan is).</summary>
    public bool Live => SubscriptionStatus.IsLive(Status);
}
