create table webhook_events (
    id text primary key,
    provider text not null,
    event_id text not null,
    event_type text not null,
    payload text not null,
    status text not null,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_error text,
    received_at timestamptz not null,
    processed_at timestamptz,
    replay_count integer not null default 0,
    last_replayed_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint ck_webhook_events_status check (status in ('received', 'processing', 'processed', 'ignored', 'failed', 'dead'))
);
-- The arbiter of "seen before": a retried delivery conflicts here and is not stored or processed again.
create unique index ux_webhook_events_provider_event on webhook_events (provider, event_id);
create index ix_webhook_events_due on webhook_events (status, next_attempt_at);
create index ix_webhook_events_status_updated on webhook_events (status, updated_at);
