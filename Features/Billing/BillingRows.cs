using Backstop.Infrastructure.Data;
using System.Data.Common;
using System.Text.Json;
using Dapper;

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

/// <summary>Subscription statuses: Stripe's, plus Backstop's own <see cref="Suspended"/>.</summary>
internal static class SubscriptionStatus
{
    public const string Incomplete = "incomplete";
    public const string IncompleteExpired = "incomplete_expired";
    public const string Trialing = "trialing";
    public const string Active = "active";
    public const string PastDue = "past_due";
    public const string Canceled = "canceled";
    public const string Unpaid = "unpaid";
    public const string Paused = "paused";

    /// <summary>Past due after the grace period ended (set by the <c>billing-grace-expiry</c> job, never by Stripe).</summary>
    public const string Suspended = "suspended";

    /// <summary>Statuses whose plan is in force. Stripe's <c>unpaid</c> (retries exhausted) is gated like <see cref="Suspended"/>.</summary>
    public static bool IsLive(string status) => status is Trialing or Active or PastDue or Suspended or Unpaid or Paused;
}

/// <summary>The SQL over <c>plans</c> and <c>subscriptions</c> that more than one action of the slice runs.</summary>
internal static class BillingSql
{
    public const string PlanColumns = "code, name, stripe_price_id, trial_days, limits, active, created_at, updated_at";

    public const string SubscriptionColumns =
        """
        id, organization_id, plan_code, provider, provider_subscription_id, provider_customer_id, provider_price_id, status,
        current_period_start, current_period_end, cancel_at_period_end, canceled_at, trial_end, grace_ends_at,
        payment_failed_at, payment_retry_count, pending_plan_code, pending_change_at, provider_updated_at, created_at, updated_at,
        collection_paused
        """;

    public static Task<PlanRow?> FindPlanAsync(DbConnection connection, DbTransaction? tx, string code, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<PlanRow>(new CommandDefinition(
            $"select {PlanColumns} from plans where code = @code", new { code }, tx, cancellationToken: ct));

    public static Task<SubscriptionRow?> FindSubscriptionAsync(DbConnection connection, DbTransaction? tx, string organizationId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(
            $"select {SubscriptionColumns} from subscriptions where organization_id = @organizationId", new { organizationId }, tx, cancellationToken: ct));

    /// <summary>
    /// The subscriptions of many organizations in one read (an organization without one has no row): <c>= any(@ids)</c>
    /// over an array on PostgreSQL, an <c>in (…)</c> list on SQLite.
    /// </summary>
    public static async Task<Dictionary<string, SubscriptionRow>> FindSubscriptionsAsync(DbConnection connection, DbTransaction? tx,
        IReadOnlyCollection<string> organizationIds, CancellationToken ct) =>
        (await connection.QueryAsync<SubscriptionRow>(new CommandDefinition(
            $"select {SubscriptionColumns} from subscriptions where {DialectSql.Of(connection).AnyOf("organization_id", "ids")}",
            new { ids = organizationIds.ToArray() }, tx, cancellationToken: ct)))
        .ToDictionary(s => s.OrganizationId, StringComparer.Ordinal);

    /// <summary>The plans of many codes in one read.</summary>
    public static async Task<Dictionary<string, PlanRow>> FindPlansAsync(DbConnection connection, DbTransaction? tx, IReadOnlyCollection<string> codes,
        CancellationToken ct) =>
        (await connection.QueryAsync<PlanRow>(new CommandDefinition(
            $"select {PlanColumns} from plans where {DialectSql.Of(connection).AnyOf("code", "codes")}", new { codes = codes.ToArray() }, tx, cancellationToken: ct)))
        .ToDictionary(p => p.Code, StringComparer.Ordinal);

    public static Task<SubscriptionRow?> FindByProviderIdAsync(DbConnection connection, DbTransaction? tx, string provider, string providerSubscriptionId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(
            $"select {SubscriptionColumns} from subscriptions where provider = @provider and provider_subscription_id = @providerSubscriptionId",
            new { provider, providerSubscriptionId }, tx, cancellationToken: ct));
}
