-- Metrics must be declared (with their kind) before a plan can limit them. kind: 'counter' (accumulates within a
-- billing period, a new period starts a new row) or 'gauge' (a current amount that never resets). creation: consuming
-- it creates something, so a past-due organization is refused (Billing's access gate, GatedAction.Create).
-- default_limit: the operator's limit for organizations whose plan does not name the metric (null: such an
-- organization cannot use it, 404 unknown_metric).
create table usage_metrics (
    name text primary key,
    kind text not null check (kind in ('counter', 'gauge')),
    description text not null default '',
    default_limit integer,
    creation integer not null default 1,
    built_in integer not null default 0,
    created_at text not null,
    updated_at text not null
);
insert into usage_metrics (name, kind, description, default_limit, creation, built_in, created_at, updated_at) values
    ('meetings_per_month', 'counter', 'Meetings created per billing period.', null, 1, 1, '2026-12-01T00:00:00.0000000Z', '2026-12-01T00:00:00.0000000Z'),
    ('team_members', 'gauge', 'Members of the organization.', null, 1, 1, '2026-12-01T00:00:00.0000000Z', '2026-12-01T00:00:00.0000000Z'),
    ('storage_bytes', 'gauge', 'Bytes of stored meeting audio.', null, 1, 1, '2026-12-01T00:00:00.0000000Z', '2026-12-01T00:00:00.0000000Z');

-- One row per (organization, metric, period start): a counter's new period is a new row, so nothing has to reset
-- it; the old period's row stays as history. Gauges use the fixed period start and end 1970-01-01. as_of: the
-- time of the last application-set value (PUT /v1/usage/{metric}); an older set is ignored.
create table usage_counters (
    organization_id text not null,
    metric text not null,
    period_start text not null,
    period_end text not null,
    used integer not null,
    as_of text,
    created_at text not null,
    updated_at text not null,
    primary key (organization_id, metric, period_start)
);

-- The first answer to an idempotency key, written in the transaction of the change it answers: the primary key is
-- what decides between concurrent duplicates. status/response: the HTTP status and JSON body first answered.
create table usage_idempotency (
    organization_id text not null,
    metric text not null,
    idempotency_key text not null,
    operation text not null,
    amount integer not null,
    period_start text not null,
    status integer not null,
    response text not null,
    created_at text not null,
    primary key (organization_id, metric, idempotency_key)
);
create index ix_usage_idempotency_created on usage_idempotency (created_at);

-- The operator's per-organization limit (-1 unlimited): wins over the plan's.
create table usage_limit_overrides (
    organization_id text not null,
    metric text not null,
    limit_value integer not null,
    reason text,
    created_at text not null,
    updated_at text not null,
    primary key (organization_id, metric)
);

-- The billing anchor as the providers' renewal events last told it (the organization comes from the event's
-- custom data / metadata): only ever moves forward. Periods are computed from it (or from Billing's subscription
-- period, whichever is newer) and the clock, so a missed event still rolls the period over.
create table usage_anchors (
    organization_id text primary key,
    provider text not null,
    provider_subscription_id text,
    period_start text not null,
    period_end text not null,
    updated_at text not null
);
create index ix_usage_anchors_subscription on usage_anchors (provider, provider_subscription_id);

-- Every billing period a provider event opened, once per (organization, period start): two deliveries of one
-- renewal (two event ids, one period) are one reset.
create table usage_periods (
    organization_id text not null,
    period_start text not null,
    period_end text not null,
    provider text not null,
    event_id text not null,
    created_at text not null,
    primary key (organization_id, period_start)
);

-- What reconciliation found: the stored usage, what the source rows count, and whether it was corrected.
create table usage_drift (
    id text primary key,
    organization_id text not null,
    metric text not null,
    period_start text not null,
    stored integer not null,
    counted integer not null,
    corrected integer not null,
    detected_at text not null
);
create index ix_usage_drift_org on usage_drift (organization_id, id);
