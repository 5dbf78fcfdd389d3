-- One row per failed payment attempt of an invoice, whatever event (or how many deliveries of it) reported it:
-- Stripe can report the same attempt under two event ids, so the unique (invoice_id, attempt) is what decides
-- whether a failure is new. A subscription's payment_retry_count counts the attempts recorded since its last
-- payment success. attempt is Stripe's attempt_count.
create table billing_payment_failures (
    id text primary key,
    provider text not null,
    invoice_id text not null,
    attempt integer not null,
    subscription_id text not null,
    organization_id text not null,
    event_id text not null,
    amount_due integer,
    currency text,
    failed_at text not null,
    created_at text not null
);
create unique index ux_billing_payment_failures_attempt on billing_payment_failures (provider, invoice_id, attempt);

-- Invoices seen paid: a failure of one of them that arrives late (out of order) is recorded but changes no status.
create table billing_paid_invoices (
    provider text not null,
    invoice_id text not null,
    subscription_id text not null,
    organization_id text not null,
    event_id text not null,
    paid_at text not null,
    created_at text not null,
    primary key (provider, invoice_id)
);

-- Chargebacks. organization_id comes from the charge's customer (billing_customers) when the event carries it;
-- null when it cannot be told. opened_at is Stripe's dispute creation time, closed_at the time of the closing event.
create table billing_disputes (
    id text primary key,
    provider text not null,
    provider_dispute_id text not null,
    charge_id text,
    customer_id text,
    organization_id text,
    amount integer not null,
    currency text not null,
    reason text,
    status text not null,
    opened_at text not null,
    closed_at text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_billing_disputes_provider_id on billing_disputes (provider, provider_dispute_id);
create index ix_billing_disputes_org on billing_disputes (organization_id, id);
