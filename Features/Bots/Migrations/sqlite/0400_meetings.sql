-- Meetings and their recording bot. One row carries the current bot (a meeting may record again once its previous
-- bot finished); bot_claim is the claim of the start in progress, bot_previous_status what undoing it restores.
create table meetings (
    id text primary key,
    organization_id text not null,
    title text not null,
    meeting_url text not null,
    normalized_url text not null,
    external_user_id text,
    join_at text,
    status text not null,
    bot_id text,
    bot_claim text,
    bot_previous_status text,
    bot_status text,
    bot_sub_code text,
    bot_status_at text,
    stop_requested_at text,
    failure_reason text,
    transcript_status text,
    audio_key text,
    audio_size integer,
    audio_content_type text,
    created_at text not null,
    updated_at text not null,
    deleted_at text
);
create index ix_meetings_org on meetings (organization_id, id);
create index ix_meetings_org_status on meetings (organization_id, status, id);
create unique index ux_meetings_bot_id on meetings (bot_id);
-- At most one active bot per meeting URL in an organization: the database, not a read, decides between two starts.
create unique index ux_meetings_active_url on meetings (organization_id, normalized_url)
    where deleted_at is null and status in ('joining', 'in_call', 'recording');

-- Every status Recall reported for a bot, known or not; (bot, code, time) is unique so a redelivery adds nothing.
create table meeting_bot_events (
    id text primary key,
    meeting_id text not null,
    bot_id text not null,
    code text not null,
    sub_code text,
    occurred_at text not null,
    created_at text not null
);
create unique index ux_meeting_bot_events on meeting_bot_events (bot_id, code, occurred_at);
create index ix_meeting_bot_events_meeting on meeting_bot_events (meeting_id, occurred_at);

-- One Deepgram request per recorded bot; only the hash of the callback token is kept.
create table transcriptions (
    id text primary key,
    meeting_id text not null,
    bot_id text not null,
    token_hash text not null,
    request_id text,
    status text not null,
    error text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_transcriptions_bot on transcriptions (meeting_id, bot_id);
create unique index ux_transcriptions_token on transcriptions (token_hash);
create unique index ux_transcriptions_request on transcriptions (request_id);

create table transcripts (
    id text primary key,
    meeting_id text not null,
    bot_id text not null,
    transcription_id text not null,
    request_id text not null,
    text text not null,
    words text not null,
    duration_seconds real,
    created_at text not null,
    updated_at text not null
);
create unique index ux_transcripts_bot on transcripts (meeting_id, bot_id);
