-- Paddle's price of a plan: Paddle subscriptions find their plan by it, as Stripe's do by stripe_price_id.
alter table plans add column paddle_price_id text;
create unique index ux_plans_paddle_price on plans (paddle_price_id) where paddle_price_id is not null;

-- The checkout that took the organization's trial: a retry of that same checkout (same idempotency key) must send
-- Stripe the same parameters, trial included, or Stripe refuses the key.
alter table organization_trials add column checkout_key text;

-- Counts cancel and resume requests: the idempotency key of each Stripe call includes it, so that cancel, resume,
-- cancel again are three operations (three keys) while a retry of one of them repeats its key.
alter table subscriptions add column cancel_requests integer not null default 0;

-- What the daily reconciliation found different between a local subscription and Stripe's. ours/stripe are text
-- renderings of the field's value on each side (null: absent on that side).
create table billing_discrepancies (
    id text primary key,
    organization_id text,
    provider_subscription_id text not null,
    field text not null,
    ours text,
    stripe text,
    found_at timestamptz not null,
    repaired boolean not null default false,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index ix_billing_discrepancies_org on billing_discrepancies (organization_id, id);
