namespace Backstop.Features.Billing.Dunning;

/// <summary>The dunning statements over <c>subscriptions</c>, <c>billing_payment_failures</c>, <c>billing_paid_invoices</c> and <c>billing_disputes</c>.</summary>
internal static class DunningSql
{
    public const string Provider = "stripe";

    /// <summary>A failed attempt, once per (invoice, attempt): no row back means another event already reported it.</summary>
    public const string RecordFailure =
        """
        insert into billing_payment_failures (id, provider, invoice_id, attempt, subscription_id, organization_id, event_id,
                                              amount_due, currency, failed_at, created_at)
        values (@id, @provider, @invoiceId, @attempt, @subscriptionId, @organizationId, @eventId, @amountDue, @currency, @failedAt, @now)
        on conflict (provider, invoice_id, attempt) do nothing
        returning id
        """;

    public const string InvoicePaidBefore =
        "select count(*) from billing_paid_invoices where provider = @provider and invoice_id = @invoiceId";

    /// <summary>
    /// A new failed attempt: <c>past_due</c> (a suspended, unpaid or paused subscription keeps its stricter status),
    /// the grace end of the earliest failure since the last recovery (out of order, an earlier first failure moves it
    /// earlier, never later; after a recovery the fields are empty and a new failure starts a new grace), the invoice
    /// that opened the dunning, the latest failure time, one more attempt. No row back for a canceled or expired
    /// subscription (a late failure does not revive it), for an incomplete one (its first payment failed: its plan was
    /// never in force, so there is nothing to be past due on; Stripe expires it), and for a failure older than a
    /// recovery the provider already reported (a late delivery of a settled episode).
    /// </summary>
    public const string ApplyFailure =
        """
        update subscriptions
        set status = case when status in ('suspended', 'unpaid', 'paused') then status else 'past_due' end,
            dunning_invoice_id = case when grace_ends_at is null then @invoiceId else coalesce(dunning_invoice_id, @invoiceId) end,
            grace_ends_at = case when grace_ends_at is null or grace_ends_at > @graceEndsAt then @graceEndsAt else grace_ends_at end,
            payment_failed_at = case when payment_failed_at is null or payment_failed_at < @failedAt then @failedAt else payment_failed_at end,
            payment_retry_count = payment_retry_count + 1,
            updated_at = @now
        where id = @id and status not in ('canceled', 'incomplete_expired', 'incomplete')
          and not (status in ('active', 'trialing') and grace_ends_at is null and provider_updated_at is not null and provider_updated_at > @failedAt)
        returning status, grace_ends_at, payment_retry_count
        """;

    /// <summary>
    /// The invoice that opened the dunning was voided or marked uncollectible: nothing is owed on it any more, so the
    /// dunning fields go (the provider's own subscription events set the status).
    /// </summary>
    public const string ApplySettled =
        """
        update subscriptions
        set grace_ends_at = null, payment_failed_at = null, payment_retry_count = 0, dunning_invoice_id = null, updated_at = @now
        where id = @id and (dunning_invoice_id is null or dunning_invoice_id = @invoiceId)
        """;

    public const string RecordPaid =
        """
        insert into billing_paid_invoices (provider, invoice_id, subscription_id, organization_id, event_id, paid_at, created_at)
        values (@provider, @invoiceId, @subscriptionId, @organizationId, @eventId, @paidAt, @now)
        on conflict (provider, invoice_id) do nothing
        """;

    /// <summary>
    /// A paid invoice ends dunning: a past-due, suspended, unpaid (or still incomplete) subscription is active again;
    /// trialing, active, paused and canceled keep their status (a trial's zero invoice is "paid" too). Grace, failure
    /// time and retry count are cleared whatever the status. Running it twice changes nothing more.
    /// </summary>
    public const string ApplyPaid =
        """
        update subscriptions
        set status = case when status in ('past_due', 'suspended', 'unpaid', 'incomplete') then 'active' else status end,
            grace_ends_at = null, payment_failed_at = null, payment_retry_count = 0, dunning_invoice_id = null, updated_at = @now
        where id = @id
        """;

    /// <summary>
    /// One batch of the grace expiry: past-due subscriptions whose grace ended, after the cursor, suspended by one
    /// conditional update (a payment that lands first makes its row drop out). On PostgreSQL rows a webhook holds are
    /// skipped, not waited for; the next run takes them.
    /// </summary>
    public static string SuspendBatch(Dialect dialect) =>
        // The materialized CTE picks (and on PostgreSQL locks) the batch once: PostgreSQL may run a "where id in
        // (select … limit … for update skip locked)" sub-select more than once in one update, changing more rows
        // than the batch.
        $"""
        with batch as materialized (
            select id as batch_id from subscriptions
            where status = 'past_due' and grace_ends_at <= @now and id > @after
            order by id
            limit @batchSize
            {dialect.SkipLocked()})
        update subscriptions as s
        set status = 'suspended', updated_at = @now
        from batch
        where s.id = batch.batch_id and s.status = 'past_due' and s.grace_ends_at <= @now
        returning id, organization_id, grace_ends_at
        """;

    /// <summary>The page <see cref="SuspendBatch"/> covers, read without locks to retry its rows one by one after a failure.</summary>
    public const string ExpiredPage =
        """
        select id from subscriptions
        where status = 'past_due' and grace_ends_at <= @now and id > @after
        order by id
        limit @batchSize
        """;

    public const string SuspendOne =
        """
        update subscriptions
        set status = 'suspended', updated_at = @now
        where id = @id and status = 'past_due' and grace_ends_at <= @now
        returning id, organization_id, grace_ends_at
        """;

    public const string OrganizationOfCustomer =
        "select organization_id from billing_customers where provider = @provider and customer_id = @customerId";

    /// <summary>A dispute as its opening event reports it; a row the closing event already wrote keeps its status and only gains the organization it lacked.</summary>
    public const string RecordDisputeOpened =
        """
        insert into billing_disputes (id, provider, provider_dispute_id, charge_id, customer_id, organization_id, amount, currency,
                                      reason, status, opened_at, closed_at, created_at, updated_at)
        values (@id, @provider, @disputeId, @chargeId, @customerId, @organizationId, @amount, @currency, @reason, @status, @openedAt,
                null, @now, @now)
        on conflict (provider, provider_dispute_id) do update
            set organization_id = coalesce(billing_disputes.organization_id, excluded.organization_id),
                customer_id = coalesce(billing_disputes.customer_id, excluded.customer_id),
                updated_at = excluded.updated_at
        """;

    /// <summary>A dispute's closing: its final status and time, inserting the row when the opening event has not arrived yet.</summary>
    public const string RecordDisputeClosed =
        """
        insert into billing_disputes (id, provider, provider_dispute_id, charge_id, customer_id, organization_id, amount, currency,
                                      reason, status, opened_at, closed_at, created_at, updated_at)
        values (@id, @provider, @disputeId, @chargeId, @customerId, @organizationId, @amount, @currency, @reason, @status, @openedAt,
                @closedAt, @now, @now)
        on conflict (provider, provider_dispute_id) do update
            set status = excluded.status, closed_at = excluded.closed_at,
                organization_id = coalesce(billing_disputes.organization_id, excluded.organization_id),
                customer_id = coalesce(billing_disputes.customer_id, excluded.customer_id),
                updated_at = excluded.updated_at
        """;

    public const string DisputeColumns =
        "id, provider, provider_dispute_id, charge_id, customer_id, organization_id, amount, currency, reason, status, opened_at, closed_at, created_at, updated_at";
}

/// <summary>A subscription the grace expiry suspended.</summary>
internal sealed record SuspendedSubscription
{
    public string Id { get; init; } = "";
    public string OrganizationId { get; init; } = "";
    public DateTimeOffset GraceEndsAt { get; init; }
}

/// <summary>What <see cref="DunningSql.ApplyFailure"/> answers.</summary>
internal sealed record FailureApplied
{
    public string Status { get; init; } = "";
    public DateTimeOffset? GraceEndsAt { get; init; }
    public int PaymentRetryCount { get; init; }
}
