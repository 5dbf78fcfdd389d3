using System.Globalization;

namespace Backstop.Features.Billing.Subscriptions;

/// <summary>The writes that follow a provider's subscription state into the organization's one <c>subscriptions</c> row.</summary>
internal static class SubscriptionWrites
{
    /// <summary>
    /// Applies the state unless what is stored is newer: one conditional upsert, so two events racing or arriving out of
    /// order cannot interleave a read and a write. States are ordered by (time, <see cref="StatusRank"/>, period start):
    /// Stripe's <c>created</c> has one-second resolution, so of two events of one second the one further along wins, and
    /// on a full tie the later delivery applies (the Stripe handler then fetches the subscription to settle it). The dunning fields
    /// (<c>grace_ends_at</c>, <c>payment_failed_at</c>, <c>payment_retry_count</c>) belong to the invoice handlers and are
    /// kept while the subscription is in dunning; they are cleared when the provider's status is back at <c>active</c> or
    /// <c>trialing</c> in an event newer than the last failure, and they start empty (or with
    /// <see cref="ProviderSubscriptionState.StartGraceEndsAt"/>) when the organization's row moves to another subscription. Backstop's own
    /// <c>suspended</c> stays while the provider still says <c>past_due</c> or <c>unpaid</c>. Answers false when the
    /// state was older than the stored one.
    /// </summary>
    /// <param name="force">Apply it whatever is stored: the state was just read from the provider itself.</param>
    public static async Task<bool> ApplyAsync(DbConnection connection, DbTransaction tx, ProviderSubscriptionState state, DateTimeOffset now,
        TimeProvider time, CancellationToken ct, bool force = false)
    {
        // Same subscription, and it has not recovered: the dunning fields stay. A recovery is Stripe's (or Paddle's) status
        // back at active/trialing in an event newer than the last failure; a stale "active" delivered late clears nothing.
        const string same = "subscriptions.provider_subscription_id = excluded.provider_subscription_id";
        const string kept = same + " and not (excluded.status in ('active', 'trialing') and (subscriptions.payment_failed_at is null"
                            + " or excluded.provider_updated_at >= subscriptions.payment_failed_at))";
        var id = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            $"""
            insert into subscriptions (id, organization_id, plan_code, provider, provider_subscription_id, provider_customer_id, provider_price_id,
                                       status, current_period_start, current_period_end, cancel_at_period_end, canceled_at, trial_end,
                                       provider_updated_at, created_at, updated_at, collection_paused, grace_ends_at, payment_failed_at, payment_retry_count)
            values (@id, @OrganizationId, @PlanCode, @Provider, @ProviderSubscriptionId, @ProviderCustomerId, @ProviderPriceId,
                    @Status, @CurrentPeriodStart, @CurrentPeriodEnd, @CancelAtPeriodEnd, @CanceledAt, @TrialEnd,
                    @ProviderUpdatedAt, @now, @now, @CollectionPaused, @StartGraceEndsAt, @startFailedAt, @startRetries)
            on conflict (organization_id) do update set
                plan_code = excluded.plan_code,
                provider = excluded.provider,
                provider_subscription_id = excluded.provider_subscription_id,
                provider_customer_id = coalesce(excluded.provider_customer_id, subscriptions.provider_customer_id),
                provider_price_id = excluded.provider_price_id,
                status = case when subscriptions.status = 'suspended' and excluded.status in ('past_due', 'unpaid') then 'suspended'
                              else excluded.status end,
                current_period_start = excluded.current_period_start,
                current_period_end = excluded.current_period_end,
                cancel_at_period_end = excluded.cancel_at_period_end,
                canceled_at = excluded.canceled_at,
                trial_end = excluded.trial_end,
                collection_paused = excluded.collection_paused,
                grace_ends_at = case when {kept} then coalesce(subscriptions.grace_ends_at, excluded.grace_ends_at)
                                     when {same} then null else excluded.grace_ends_at end,
                payment_failed_at = case when {kept} then coalesce(subscriptions.payment_failed_at, excluded.payment_failed_at)
                                         when {same} then null else excluded.payment_failed_at end,
                payment_retry_count = case when {kept} then (case when subscriptions.grace_ends_at is null and excluded.grace_ends_at is not null
                                                                   then excluded.payment_retry_count else subscriptions.payment_retry_count end)
                                           when {same} then 0 else excluded.payment_retry_count end,
                dunning_invoice_id = case when {kept} then subscriptions.dunning_invoice_id end,
                provider_updated_at = excluded.provider_updated_at,
                updated_at = excluded.updated_at
            where @force or subscriptions.provider_updated_at is null or excluded.provider_updated_at > subscriptions.provider_updated_at
               or (excluded.provider_updated_at = subscriptions.provider_updated_at
                   and ((case excluded.status when 'incomplete' then 0 when 'trialing' then 1 when 'active' then 2 when 'past_due' then 3 when 'suspended' then 3 when 'unpaid' then 4 when 'paused' then 4 else 5 end) > (case subscriptions.status when 'incomplete' then 0 when 'trialing' then 1 when 'active' then 2 when 'past_due' then 3 when 'suspended' then 3 when 'unpaid' then 4 when 'paused' then 4 else 5 end)
                        or ((case excluded.status when 'incomplete' then 0 when 'trialing' then 1 when 'active' then 2 when 'past_due' then 3 when 'suspended' then 3 when 'unpaid' then 4 when 'paused' then 4 else 5 end) = (case subscriptions.status when 'incomplete' then 0 when 'trialing' then 1 when 'active' then 2 when 'past_due' then 3 when 'suspended' then 3 when 'unpaid' then 4 when 'paused' then 4 else 5 end)
                            and (excluded.current_period_start is null or subscriptions.current_period_start is null
                                 or excluded.current_period_start >= subscriptions.current_period_start))))
            returning id
            """,
            new
            {
                id = Ids.New(time), state.OrganizationId, state.PlanCode, state.Provider, state.ProviderSubscriptionId, state.ProviderCustomerId,
                state.ProviderPriceId, state.Status, state.CurrentPeriodStart, state.CurrentPeriodEnd, state.CancelAtPeriodEnd, state.CanceledAt,
                state.TrialEnd, state.ProviderUpdatedAt, now, force, state.CollectionPaused, state.StartGraceEndsAt,
                startFailedAt = state.StartGraceEndsAt is null ? (DateTimeOffset?)null : state.ProviderUpdatedAt,
                startRetries = state.StartGraceEndsAt is null ? 0 : 1,
            }, tx, cancellationToken: ct));
        return id is not null;
    }

    /// <summary>
    /// How far along its life a status is, for states of the same second: a later one (trialing → active → past_due →
    /// unpaid/paused → canceled) wins. Backstop's <c>suspended</c> ranks with <c>past_due</c>. The SQL of
    /// <see cref="ApplyAsync"/> spells the same order.
    /// </summary>
    public static int StatusRank(string? status) => status switch
    {
        "incomplete" => 0,
        "trialing" => 1,
        "active" => 2,
        "past_due" or "suspended" => 3,
        "unpaid" or "paused" => 4,
        _ => 5,
    };

    /// <summary>A trial seen at the provider counts as the organization's one trial, however it was started.</summary>
    public static Task RecordTrialAsync(DbConnection connection, DbTransaction tx, string organizationId, string planCode, DateTimeOffset now, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            insert into organization_trials (organization_id, plan_code, granted_at)
            values (@organizationId, @planCode, @now)
            on conflict (organization_id) do nothing
            """, new { organizationId, planCode, now }, tx, cancellationToken: ct));

    /// <summary>The organization whose provider customer this is, if Backstop created or linked it.</summary>
    public static Task<string?> OrganizationOfCustomerAsync(DbConnection connection, DbTransaction tx, string provider, string? customerId, CancellationToken ct) =>
        customerId is null
            ? Task.FromResult<string?>(null)
            : connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select organization_id from billing_customers where provider = @provider and customer_id = @customerId",
                new { provider, customerId }, tx, cancellationToken: ct));

    /// <summary>Links a provider customer to the organization the first time one is seen (the primary key keeps the first).</summary>
    public static Task LinkCustomerAsync(DbConnection connection, DbTransaction tx, string organizationId, string provider, string customerId, DateTimeOffset now, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            insert into billing_customers (organization_id, provider, customer_id, created_at)
            values (@organizationId, @provider, @customerId, @now)
            on conflict do nothing
            """, new { organizationId, provider, customerId, now }, tx, cancellationToken: ct));

    public static Task<string?> PlanByStripePriceAsync(DbConnection connection, DbTransaction? tx, string? priceId, CancellationToken ct) =>
        priceId is null
            ? Task.FromResult<string?>(null)
            : connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select code from plans where stripe_price_id = @priceId", new { priceId }, tx, cancellationToken: ct));

    public static Task<string?> PlanByPaddlePriceAsync(DbConnection connection, DbTransaction? tx, string? priceId, CancellationToken ct) =>
        priceId is null
            ? Task.FromResult<string?>(null)
            : connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "select code from plans where paddle_price_id = @priceId", new { priceId }, tx, cancellationToken: ct));

    public static async Task<bool> PlanExistsAsync(DbConnection connection, DbTransaction? tx, string? code, CancellationToken ct) =>
        code is not null && await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from plans where code = @code", new { code }, tx, cancellationToken: ct)) > 0;
}
