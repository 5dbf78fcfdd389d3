-- The delivery log of outbound events (docs/events.md): one row per attempt to deliver an event to an endpoint,
-- written by the event channel in a short transaction of its own right after the attempt (so an attempt whose
-- result the dispatcher could not record is still logged). response_body: the first 4 KiB of the answer.
-- outcome: sent, failed (a non-2xx answer, a timeout or a transport error), refused (the target address is not
-- allowed) or skipped (the endpoint was deleted or disabled). Pruned after Events:AttemptRetentionDays.
create table event_delivery_attempts (
    id text primary key,
    event_id text not null,
    endpoint_id text not null,
    outbox_message_id text not null,
    attempt integer not null,
    started_at timestamptz not null,
    duration_ms bigint not null,
    response_status integer,
    response_body text,
    error text,
    outcome text not null,
    created_at timestamptz not null
);
create index ix_event_delivery_attempts_endpoint on event_delivery_attempts (endpoint_id, id);
create index ix_event_delivery_attempts_event on event_delivery_attempts (event_id, id);
create index ix_event_delivery_attempts_started on event_delivery_attempts (started_at);
