namespace Backstop.Features.Billing;

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
