-- The organization's checkout in flight: at most one per organization (the primary key), claimed by one conditional
-- upsert before Stripe is called, so two checkouts can never open two sessions (two subscriptions). status: creating
-- (claimed, no session yet), open (Stripe's session exists until expires_at), completed, expired, failed.
create table billing_checkouts (
    organization_id text primary key,
    session_key text not null,
    plan_code text not null,
    trial_days integer,
    session_id text,
    url text,
    status text not null,
    claims integer not null default 0,
    expires_at timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index ix_billing_checkouts_session on billing_checkouts (session_id) where session_id is not null;

-- Organizations deleted (recorded by Billing's deletion listener): an event that would attach a subscription to one
-- cancels that subscription instead.
create table billing_deleted_organizations (
    organization_id text primary key,
    deleted_at timestamptz not null
);

-- Dunning belongs to the open invoice: the invoice whose failure opened the grace.
alter table subscriptions add column dunning_invoice_id text;
-- Stripe's pause_collection is set: the subscription is gated as paused.
alter table subscriptions add column collection_paused boolean not null default false;

-- Discrepancies: one open row per (provider, subscription, field), seen first and last, resolved when the drift ends;
-- provider and kind (drift found by reconciliation, or an event refused: conflict, organization, deleted_organization).
alter table billing_discrepancies add column provider text not null default 'stripe';
alter table billing_discrepancies add column first_seen_at timestamptz;
alter table billing_discrepancies add column last_seen_at timestamptz;
alter table billing_discrepancies add column resolved boolean not null default false;
alter table billing_discrepancies add column resolved_at timestamptz;
alter table billing_discrepancies add column digested_at timestamptz;
update billing_discrepancies set first_seen_at = found_at, last_seen_at = found_at;
update billing_discrepancies set resolved = true, resolved_at = found_at
where id not in (select max(id) from billing_discrepancies group by provider_subscription_id, field);
create unique index ux_billing_discrepancies_open on billing_discrepancies (provider, provider_subscription_id, field) where not resolved;
