-- Plans, addressed by their code. limits is a JSON object metric -> limit (-1 unlimited); a plan without a Stripe
-- price is free. The default plan (Billing:DefaultPlan, 'free' out of the box) is what an organization without a
-- subscription gets.
create table plans (
    code text primary key,
    name text not null,
    stripe_price_id text,
    trial_days integer not null default 0,
    limits text not null default '{}',
    active integer not null default 1,
    created_at text not null,
    updated_at text not null
);
create unique index ux_plans_stripe_price on plans (stripe_price_id) where stripe_price_id is not null;
insert into plans (code, name, stripe_price_id, trial_days, limits, active, created_at, updated_at)
values ('free', 'Free', null, 0, '{"meetings_per_month":10,"team_members":3,"storage_bytes":1073741824}', 1,
        '2026-12-01T00:00:00.0000000+00:00', '2026-12-01T00:00:00.0000000+00:00');

-- The organization's customer at its billing provider: created once (the primary key decides between concurrent
-- checkouts), reused for every later checkout.
create table billing_customers (
    organization_id text primary key,
    provider text not null,
    customer_id text not null,
    created_at text not null
);
create unique index ux_billing_customers_provider on billing_customers (provider, customer_id);

-- The organization's one current subscription (a new checkout after a cancellation replaces the row's provider ids).
-- status: Stripe's (incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused) or
-- Backstop's own 'suspended' (past due after the grace period). provider_updated_at orders out-of-order events: an
-- update older than it is not applied. The plan cannot be deleted under it (restrict).
create table subscriptions (
    id text primary key,
    organization_id text not null,
    plan_code text not null references plans (code) on delete restrict,
    provider text not null,
    provider_subscription_id text,
    provider_customer_id text,
    provider_price_id text,
    status text not null,
    current_period_start text,
    current_period_end text,
    cancel_at_period_end integer not null default 0,
    canceled_at text,
    trial_end text,
    grace_ends_at text,
    payment_failed_at text,
    payment_retry_count integer not null default 0,
    pending_plan_code text references plans (code) on delete restrict,
    pending_change_at text,
    provider_updated_at text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_subscriptions_org on subscriptions (organization_id);
create unique index ux_subscriptions_provider_id on subscriptions (provider, provider_subscription_id) where provider_subscription_id is not null;
create index ix_subscriptions_status on subscriptions (status, grace_ends_at);

-- A trial is given once per organization, whatever happened to its subscription since.
create table organization_trials (
    organization_id text primary key,
    plan_code text not null,
    granted_at text not null
);
