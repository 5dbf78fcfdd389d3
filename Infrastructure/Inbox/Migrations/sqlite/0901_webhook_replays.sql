-- Bulk replays of stored webhook events (docs/webhooks.md, "Bulk replay"): the filter as asked, how many events it
-- matched then (total, up to the newest matching event, upper_id), and how far the webhook-replays job got
-- (after_id, the last event id worked; replayed, failed, skipped). Every successful replay moves the position in the
-- replay's own transaction, so a restart resumes after the last event replayed and replays none twice.
-- lease_holder/lease_until: the one worker of a replay at a time. state: running, completed, cancelled.
create table webhook_replays (
    id text primary key,
    provider text,
    status text,
    event_type text,
    received_from text,
    received_to text,
    q text,
    state text not null,
    total integer not null,
    replayed integer not null,
    failed integer not null,
    skipped integer not null,
    upper_id text,
    after_id text,
    lease_holder text,
    lease_until text,
    finished_at text,
    created_at text not null,
    updated_at text not null,
    constraint ck_webhook_replays_state check (state in ('running', 'completed', 'cancelled'))
);
create index ix_webhook_replays_running on webhook_replays (created_at) where state = 'running';
