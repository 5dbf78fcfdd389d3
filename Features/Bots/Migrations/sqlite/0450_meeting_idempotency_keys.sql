-- POST /v1/meetings with an Idempotency-Key header: one row per (organization, key), inserted in the meeting's own
-- transaction, so the primary key decides between concurrent requests carrying one key (one meeting, one
-- meetings_per_month consumption). request_hash is the SHA-256 of the request's fields (the same key with another
-- body is refused 422 idempotency_key_reused); response is the first answer (the meeting as it was answered), written
-- once that answer was given. Kept 24 h (expires_at); the bot-pipeline-repair sweep deletes expired rows.
create table meeting_idempotency_keys (
    organization_id text not null,
    idempotency_key text not null,
    request_hash text not null,
    meeting_id text not null,
    response text,
    created_at text not null,
    expires_at text not null,
    primary key (organization_id, idempotency_key)
);
create index ix_meeting_idempotency_keys_expires on meeting_idempotency_keys (expires_at);
