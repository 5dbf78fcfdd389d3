-- The events API (docs/events.md): redeliveries (replays and recoveries) and bulk recoveries.

-- Every redelivery of an event to an endpoint besides its first delivery: a replay (outbox key
-- event:{eventId}:{endpointId}:replay:{n}, n numbering the pair's replays) or one event of a recovery (key
-- event:{eventId}:{endpointId}:recovery:{recoveryId}, n null). Whether the pair was acknowledged is whether one of
-- its outbox messages, found by these keys (the outbox's unique index), was sent.
create table event_redeliveries (
    id text primary key,
    event_id text not null,
    endpoint_id text not null,
    n integer,
    outbox_key text not null,
    recovery_id text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create unique index ux_event_redeliveries_outbox_key on event_redeliveries (outbox_key);
create index ix_event_redeliveries_pair on event_redeliveries (event_id, endpoint_id);

-- A bulk recovery: re-send to one endpoint every event since `since` (up to the newest event when it was asked,
-- upper_event_id) that the endpoint has not acknowledged. Worked in bounded batches by the event-recovery job;
-- after_event_id is how far it got. status: running, completed, cancelled.
create table event_recoveries (
    id text primary key,
    endpoint_id text not null,
    organization_id text,
    since timestamptz not null,
    upper_event_id text,
    status text not null,
    total integer not null,
    enqueued integer not null,
    after_event_id text,
    finished_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index ix_event_recoveries_running on event_recoveries (created_at) where status = 'running';
create index ix_event_recoveries_endpoint on event_recoveries (endpoint_id, id);

-- Live (not deleted) endpoints per owner (an organization id, or '' for the operator): the limit on endpoints is one
-- conditional update of this row, so concurrent creations can never pass it.
create table event_endpoint_counts (
    owner text primary key,
    live integer not null,
    updated_at timestamptz not null
);
