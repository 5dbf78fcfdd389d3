create table outbox_messages (
    id text primary key,
    channel text not null,
    idempotency_key text not null,
    payload text not null,
    reference text,
    sensitive integer not null default 0,
    status text not null,
    attempts integer not null default 0,
    max_attempts integer not null,
    next_attempt_at text not null,
    lease_holder text,
    lease_until text,
    last_error text,
    provider_id text,
    correlation_id text,
    sent_at text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_outbox_messages_idempotency_key on outbox_messages (idempotency_key);
create index ix_outbox_messages_due on outbox_messages (next_attempt_at) where status = 'pending';
create index ix_outbox_messages_leased on outbox_messages (lease_until) where status = 'sending';
create index ix_outbox_messages_status_channel on outbox_messages (status, channel, id);

create table outbox_attempts (
    id text primary key,
    message_id text not null references outbox_messages (id) on delete cascade,
    attempt integer not null,
    outcome text not null,
    error text,
    retry_after_ms integer,
    started_at text not null,
    finished_at text not null,
    created_at text not null,
    updated_at text not null
);
create index ix_outbox_attempts_message on outbox_attempts (message_id, attempt);
