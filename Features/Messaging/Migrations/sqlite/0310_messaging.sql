-- Every SMS this service sends (API sends and one-time codes), with the status Twilio reports back.
create table sms_messages (
    id text primary key,
    organization_id text not null,
    kind text not null,
    to_number text not null,
    body text,
    status text not null,
    provider_sid text,
    error text,
    error_code text,
    outbox_message_id text,
    created_at text not null,
    updated_at text not null
);
create unique index ux_sms_messages_provider_sid on sms_messages (provider_sid);
create index ix_sms_messages_org on sms_messages (organization_id, id);

-- Numbers that answered STOP (or were opted out by an operator); a row means "do not send".
create table sms_opt_outs (
    phone_number text primary key,
    id text not null,
    method text not null,
    opted_out_at text not null,
    created_at text not null,
    updated_at text not null
);
create unique index ux_sms_opt_outs_id on sms_opt_outs (id);

-- Append-only trail of consent changes. message_sid is unique: a redelivered inbound message adds no second row.
create table sms_consent_audit (
    id text primary key,
    phone_number text not null,
    action text not null,
    method text not null,
    keyword text,
    message_sid text,
    created_at text not null
);
create unique index ux_sms_consent_audit_message_sid on sms_consent_audit (message_sid);
create index ix_sms_consent_audit_number on sms_consent_audit (phone_number, id);

create table organization_sms_settings (
    organization_id text primary key,
    sms_enabled integer not null,
    created_at text not null,
    updated_at text not null
);

create table otp_codes (
    id text primary key,
    organization_id text not null,
    identifier text not null,
    channel text not null,
    code_hash text not null,
    expires_at text not null,
    attempts integer not null default 0,
    max_attempts integer not null,
    verified_at text,
    created_at text not null,
    updated_at text not null
);
create index ix_otp_codes_lookup on otp_codes (organization_id, identifier, id);
create index ix_otp_codes_expires on otp_codes (expires_at);

-- Fixed-window counters for the one-time code limits: one conditional upsert per window decides.
create table otp_rate_counters (
    bucket text not null,
    window_start text not null,
    count integer not null,
    created_at text not null,
    updated_at text not null,
    primary key (bucket, window_start)
);
create index ix_otp_rate_counters_window on otp_rate_counters (window_start);
