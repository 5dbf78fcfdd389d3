-- Outbound events (docs/events.md). An event row is written in the transaction of the change it describes, so an
-- event exists exactly when its change committed. sequence: per stream (the organization, or '' for the operator's
-- events that belong to no organization), monotonic and gap-free because it is taken in the same transaction.
create table events (
    id text primary key,
    type text not null,
    organization_id text,
    sequence bigint not null,
    version integer not null,
    occurred_at timestamptz not null,
    data text not null,
    created_at timestamptz not null
);
create index ix_events_organization on events (organization_id, id);
create index ix_events_type on events (type, id);
create index ix_events_occurred on events (occurred_at);

-- The last sequence number of each stream: one upsert per event takes the next one.
create table event_sequences (
    stream text primary key,
    last_sequence bigint not null,
    updated_at timestamptz not null
);

-- Where events are delivered. organization_id null: the operator's endpoint (every organization's events);
-- otherwise the organization's own endpoint (only its events). event_types: JSON array of exact types or 'x.*'
-- prefixes, null for every type. The signing secret is stored protected (ASP.NET Data Protection): it must be
-- read back to sign, so it cannot be hashed; a rotated secret stays valid (and signs too) until previous_secret_expires_at.
create table event_endpoints (
    id text primary key,
    organization_id text,
    url text not null,
    description text,
    event_types text,
    enabled boolean not null,
    rate_limit_per_second integer,
    secret_protected text not null,
    previous_secret_protected text,
    previous_secret_expires_at timestamptz,
    failing_since timestamptz,
    disabled_at timestamptz,
    disabled_reason text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index ix_event_endpoints_organization on event_endpoints (organization_id) where deleted_at is null;
